import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { loadSegments } from '../../analysis/load-segments.js'
import { deriveOwnerWrapKey, unwrapDatasetKey } from '../../crypto/owner-wrap-key.js'
import { writeTable } from '../../storage/index.js'
import { fetchManifest } from '../fetch-manifest.js'
import { requireAccount, type W3aClient } from '../client.js'
import { chainReader } from '../custody-channel.js'
import { requireDataset } from './market/dataset.js'

export { fetchManifest }

export type DownloadProgress = { stage: 'manifest' | 'decrypt' | 'write'; done: number; total: number }

export type DownloadDatasetParameters = {
  id: Hex
  /** Output file; its extension (.csv, .jsonl, .parquet) chooses the format. */
  out: string
  onProgress?: (p: DownloadProgress) => void
}

export type DownloadDatasetReturnType = { id: Hex; out: string; rows: number; segments: number }

/**
 * The owner gets their rows back: every block is verified against its CID, every chunk
 * authenticated before its plaintext is used, and the dataset key is unwrapped with the
 * owner's wallet-derived key. Decrypted Parquet lives only in a private temp dir on this
 * machine while the output file is written.
 */
export async function downloadDataset(client: W3aClient, params: DownloadDatasetParameters): Promise<DownloadDatasetReturnType> {
  const account = requireAccount(client, 'dataset download')
  const progress = params.onProgress ?? (() => {})
  // The record (owner, manifest CID) from the chain itself: a gateway could name another manifest.
  const { network, publicClient } = await chainReader(client)
  const dataset = await requireDataset(publicClient, network.contracts.datasetRegistry, params.id)
  if (dataset.owner.toLowerCase() !== account.address.toLowerCase()) {
    throw new W3aError('NOT_OWNER', `dataset ${params.id} belongs to ${dataset.owner}, not to ${account.address}`, {
      details: ['Only the owner can download rows. Analysts buy usage and get aggregates.'],
    })
  }
  progress({ stage: 'manifest', done: 0, total: 1 })
  const manifest = await fetchManifest(client, dataset.manifestCid)
  if (manifest.datasetId.toLowerCase() !== params.id.toLowerCase()) {
    throw new W3aError('MANIFEST_MALFORMED', `manifest ${dataset.manifestCid} is for dataset ${manifest.datasetId}, not ${params.id}`)
  }
  const wrapKey = await deriveOwnerWrapKey({ account, chainId: network.chainId })
  const wrap = manifest.keyWraps.find((w) => w.kind === 'owner' && Buffer.from(w.recipient).equals(Buffer.from(wrapKey.publicKey)))
  if (!wrap) {
    throw new W3aError('NOT_OWNER', `manifest of ${params.id} holds no key wrapped to this account's key`)
  }
  const dek = await unwrapDatasetKey({ recipientPrivateKey: wrapKey.privateKey, datasetId: manifest.datasetId, enc: wrap.enc, ciphertext: wrap.ciphertext })
  progress({ stage: 'manifest', done: 1, total: 1 })

  const workDir = await mkdtemp(join(tmpdir(), 'w3a-download-'))
  try {
    const total = manifest.segments.length
    progress({ stage: 'decrypt', done: 0, total })
    const { files } = await loadSegments({
      manifest,
      dek,
      dir: workDir,
      fetchCar: (cid) => client.gateway.getStream(`/ipfs/${cid.toString()}?format=car`, 'application/vnd.ipld.car'),
      onProgress: (p) => progress({ stage: 'decrypt', done: p.done, total }),
    })
    progress({ stage: 'write', done: 0, total: 1 })
    await writeTable(files, params.out)
    progress({ stage: 'write', done: 1, total: 1 })
    return { id: params.id, out: params.out, rows: manifest.rows, segments: total }
  } finally {
    dek.fill(0)
    await rm(workDir, { recursive: true, force: true })
  }
}
