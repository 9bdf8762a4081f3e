import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import type { Hex, LocalAccount } from 'viem'
import { W3aError } from '../core/errors.js'
import { encryptSegmentStream, envelopeCiphertextSize, DEFAULT_CHUNK_SIZE } from '../crypto/envelope.js'
import { writeParquetSegments, type ColumnTypes, type DatasetManifest } from '../storage/index.js'
import { sendSegments } from './send-segment.js'
import type { W3aClient } from './client.js'
import { storeManifest } from './store-manifest.js'

export type SealTableProgress = { stage: 'segment' | 'encrypt' | 'upload'; done: number; total: number }

/**
 * The owner's side of storing a table under `dek`: plaintext Parquet segments in a private temp
 * dir, each sealed with the dataset key (chunk AAD bound to `id` and the segment index), imported
 * as a UnixFS DAG and sent to the gateway as a CAR; then the manifest (storeManifest). Used by dataset uploads and pool
 * contributions alike. The gateway only ever receives ciphertext and public metadata.
 */
export async function sealTable(
  client: W3aClient,
  p: { account: LocalAccount; chainId: number; id: Hex; dek: Uint8Array; file: string; name: string; privacyUnit: string | null; rowsPerSegment: number; types?: ColumnTypes; onProgress?: (p: SealTableProgress) => void },
): Promise<{ manifestCid: CID; manifest: DatasetManifest }> {
  const progress = p.onProgress ?? (() => {})
  const workDir = await mkdtemp(join(tmpdir(), 'w3a-upload-'))
  try {
    progress({ stage: 'segment', done: 0, total: 1 })
    const written = await writeParquetSegments(p.file, { outDir: workDir, rowsPerSegment: p.rowsPerSegment, ...(p.types ? { types: p.types } : {}) })
    progress({ stage: 'segment', done: 1, total: 1 })
    // Every segment is sealed with this chunk size (each envelope header carries it too); the
    // manifest records this value, so it cannot drift from what was actually written.
    const chunkSize = DEFAULT_CHUNK_SIZE
    const segments: DatasetManifest['segments'] = []
    const total = written.segments.length
    // Streamed and pipelined: each file is read, sealed and cut into UnixFS leaves piece by piece while
    // the previous segment's CAR is sent (send-segment.ts).
    await sendSegments(client, {
      paths: written.segments.map((s) => s.path),
      seal: (pieces, segmentIndex) => encryptSegmentStream({ key: p.dek, chunkSize, context: { datasetId: p.id, segmentIndex } }, pieces),
      onSealing: (segmentIndex) => progress({ stage: 'encrypt', done: segmentIndex, total }),
      onImported: (segmentIndex) => progress({ stage: 'upload', done: segmentIndex, total }),
      onSent: async (segmentIndex, sent) => {
        const seg = written.segments[segmentIndex]!
        const size = envelopeCiphertextSize(sent.plaintextBytes, chunkSize)
        if (sent.storedBytes !== size) throw new W3aError('INTERNAL', `Segment ${segmentIndex}: ${sent.storedBytes} bytes of ciphertext stored, ${size} expected`)
        await rm(seg.path, { force: true })
        segments.push({ cid: sent.cid, rows: seg.rows, size })
      },
    })
    progress({ stage: 'upload', done: total, total })
    return await storeManifest(client, { account: p.account, chainId: p.chainId, id: p.id, dek: p.dek, name: p.name, columns: written.columns, privacyUnit: p.privacyUnit, rows: written.rows, segments, chunkSize })
  } finally {
    await rm(workDir, { recursive: true, force: true })
  }
}
