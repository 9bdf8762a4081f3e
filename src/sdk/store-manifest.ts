import type { CID } from 'multiformats/cid'
import type { Hex, LocalAccount } from 'viem'
import { ENVELOPE_VERSION } from '../crypto/envelope-format.js'
import { HPKE_SUITE_ID } from '../crypto/hpke.js'
import { deriveOwnerWrapKey, wrapDatasetKey } from '../crypto/owner-wrap-key.js'
import { encodeManifest, type DatasetManifest } from '../storage/manifest.js'
import { carOfBlock } from '../storage/car-of-block.js'
import type { W3aClient } from './client.js'
import { uploadCar } from './upload-car.js'

export type StoreManifestParameters = {
  account: LocalAccount
  chainId: number
  id: Hex
  dek: Uint8Array
  name: string
  columns: { name: string; type: string }[]
  privacyUnit: string | null
  rows: number
  /** The sealed segments already stored (their CIDs), in order. */
  segments: DatasetManifest['segments']
  chunkSize: number
}

/**
 * The manifest of sealed segments already stored: schema, segment CIDs, envelope parameters and
 * the dataset key wrapped to the owner's wallet-derived key, stored as one block. Portable: the
 * Node upload, the browser's and pool contributions all end their storage with it.
 */
export async function storeManifest(client: W3aClient, p: StoreManifestParameters): Promise<{ manifestCid: CID; manifest: DatasetManifest }> {
  const wrapKey = await deriveOwnerWrapKey({ account: p.account, chainId: p.chainId })
  const wrapped = await wrapDatasetKey({ recipientPublicKey: wrapKey.publicKey, datasetId: p.id, dek: p.dek })
  const manifest: DatasetManifest = {
    version: 1,
    datasetId: p.id,
    name: p.name,
    format: 'parquet',
    schema: { columns: p.columns },
    privacyUnit: p.privacyUnit,
    rows: p.rows,
    segments: p.segments,
    envelope: { version: ENVELOPE_VERSION, cipher: 'AES-256-GCM', chunkSize: p.chunkSize, kdf: 'HKDF-SHA256' },
    keyWraps: [{ kind: 'owner', suite: HPKE_SUITE_ID, recipient: wrapKey.publicKey, enc: wrapped.enc, ciphertext: wrapped.ciphertext }],
    createdAt: new Date().toISOString(),
  }
  const manifestCar = await carOfBlock(encodeManifest(manifest))
  await uploadCar(client, { root: manifestCar.cid, car: manifestCar.car })
  return { manifestCid: manifestCar.cid, manifest }
}
