import type { Hex } from 'viem'
import { ENVELOPE_VERSION } from '../crypto/envelope-format.js'
import { HPKE_SUITE_ID } from '../crypto/hpke.js'
import { deriveOwnerWrapKey, wrapDatasetKey } from '../crypto/owner-wrap-key.js'
import { encodeManifest, schemaHash, type DatasetManifest } from '../storage/manifest.js'
import { carOfBlock } from '../storage/car-of-block.js'
import { registerDataset } from '../chain/actions/registerDataset.js'
import { requireAccount, type W3aClient } from './client.js'
import { registerDatasetKey } from './actions/custody/registerDatasetKey.js'
import { uploadCar } from './upload-car.js'
import { walletFor } from './wallet.js'

export type PublishStage = 'register' | 'custody'

export type PublishDatasetParameters = {
  id: Hex
  salt: Hex
  dek: Uint8Array
  name: string
  columns: { name: string; type: string }[]
  privacyUnit: string | null
  rows: number
  /** The sealed segments already stored (their CIDs), in order. */
  segments: DatasetManifest['segments']
  chunkSize: number
  onStage?: (stage: PublishStage, done: boolean) => void
}

export type PublishDatasetReturnType = { manifestCid: string; tx: Hex; custody: { index: bigint; keeper: Hex; tx: Hex } }

/**
 * The end of every upload, once the sealed segments are stored: the manifest (schema, segment
 * CIDs, the dataset key wrapped to the owner's wallet-derived key) goes to storage, the dataset
 * is registered on chain unlisted, and its key goes to custody sealed to the keepers' epoch key.
 * Shared by the Node upload (uploadDataset, files) and the browser's (uploadParquet, bytes).
 */
export async function publishDataset(client: W3aClient, p: PublishDatasetParameters): Promise<PublishDatasetReturnType> {
  const account = requireAccount(client, 'dataset upload')
  const network = await client.network()
  const wrapKey = await deriveOwnerWrapKey({ account, chainId: network.chainId })
  const wrapped = await wrapDatasetKey({ recipientPublicKey: wrapKey.publicKey, datasetId: p.id, dek: p.dek })
  const schema = { columns: p.columns }
  const manifest: DatasetManifest = {
    version: 1,
    datasetId: p.id,
    name: p.name,
    format: 'parquet',
    schema,
    privacyUnit: p.privacyUnit,
    rows: p.rows,
    segments: p.segments,
    envelope: { version: ENVELOPE_VERSION, cipher: 'AES-256-GCM', chunkSize: p.chunkSize, kdf: 'HKDF-SHA256' },
    keyWraps: [{ kind: 'owner', suite: HPKE_SUITE_ID, recipient: wrapKey.publicKey, enc: wrapped.enc, ciphertext: wrapped.ciphertext }],
    createdAt: new Date().toISOString(),
  }
  const manifestCar = await carOfBlock(encodeManifest(manifest))
  await uploadCar(client, { root: manifestCar.cid, car: manifestCar.car })

  p.onStage?.('register', false)
  const receipt = await registerDataset(walletFor(network, account), {
    registry: network.contracts.datasetRegistry,
    salt: p.salt,
    name: p.name,
    manifestCid: manifestCar.cid.toString(),
    schemaHash: schemaHash(schema),
    // Registered unlisted: the price is set when the owner lists it (listOnMarket).
    pricePerQuery: 0n,
  })
  p.onStage?.('register', true)

  p.onStage?.('custody', false)
  const custody = await registerDatasetKey(client, { id: p.id, salt: p.salt, manifestCid: manifestCar.cid.toString(), dek: p.dek })
  p.onStage?.('custody', true)
  return { manifestCid: manifestCar.cid.toString(), tx: receipt.hash, custody: { index: custody.index, keeper: custody.keeper, tx: custody.tx } }
}
