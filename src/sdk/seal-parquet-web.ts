import type { Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import { DEFAULT_CHUNK_SIZE, envelopeCiphertextSize } from '../crypto/envelope-format.js'
import { encryptSegmentWeb } from '../crypto/envelope-web.js'
import { collectBytes, createMemoryBlockstore } from '../storage/block-read.js'
import { exportCar } from '../storage/car.js'
import { importBytes } from '../storage/unixfs.js'
import type { DatasetManifest } from '../storage/manifest.js'
import type { W3aClient } from './client.js'
import { uploadCar } from './upload-car.js'

export type SealParquetProgress = { stage: 'encrypt' | 'upload'; done: number; total: number }

/**
 * Parquet segments held in memory (a page's), sealed under `dek` on Web Crypto (chunk AAD bound
 * to `id` and the segment index, the same bytes as the Node writer), each sent as a CAR of its
 * UnixFS DAG. The plaintext segments are zeroed once sealed. The browser's upload and its pool
 * contributions both store their rows this way, then their manifest (storeManifest).
 */
export async function sealParquetSegments(
  client: W3aClient,
  p: { id: Hex; dek: Uint8Array; segments: { parquet: Uint8Array; rows: number }[]; onProgress?: (p: SealParquetProgress) => void },
): Promise<{ segments: DatasetManifest['segments']; chunkSize: number }> {
  const progress = p.onProgress ?? (() => {})
  const chunkSize = DEFAULT_CHUNK_SIZE
  const total = p.segments.length
  const segments: DatasetManifest['segments'] = []
  for (const [segmentIndex, seg] of p.segments.entries()) {
    progress({ stage: 'encrypt', done: segmentIndex, total })
    const sealed = await encryptSegmentWeb({ key: p.dek, chunkSize, context: { datasetId: p.id, segmentIndex } }, seg.parquet)
    const plaintextBytes = seg.parquet.length
    seg.parquet.fill(0)
    const blocks = createMemoryBlockstore()
    const imported = await importBytes(blocks, sealed)
    if (imported.size !== envelopeCiphertextSize(plaintextBytes, chunkSize)) throw new W3aError('INTERNAL', `Segment ${segmentIndex}: ${imported.size} bytes of ciphertext imported`)
    progress({ stage: 'upload', done: segmentIndex, total })
    // One body, not a stream: browsers send streamed request bodies over HTTP/2 only.
    await uploadCar(client, { root: imported.cid, car: await collectBytes(exportCar(blocks, imported.cid)) })
    segments.push({ cid: imported.cid, rows: seg.rows, size: imported.size })
  }
  progress({ stage: 'upload', done: total, total })
  return { segments, chunkSize }
}
