import type { Hex } from 'viem'
import { schemaHash, type DatasetManifest } from '../storage/manifest.js'
import { registerDataset } from '../chain/actions/registerDataset.js'
import { requireAccount, type W3aClient } from './client.js'
import { registerDatasetKey } from './actions/custody/registerDatasetKey.js'
import { storeManifest, type StoreManifestParameters } from './store-manifest.js'
import { walletFor } from './wallet.js'

export type PublishStage = 'register' | 'custody'

/** What storeManifest takes, but the account and chain (the client's), with the salt the id was derived from. */
export type PublishDatasetParameters = Omit<StoreManifestParameters, 'account' | 'chainId'> & {
  salt: Hex
  onStage?: (stage: PublishStage, done: boolean) => void
}

export type PublishDatasetReturnType = { manifestCid: string; tx: Hex; custody: { index: bigint; keeper: Hex; tx: Hex } }

/**
 * The end of every upload, once the sealed segments are stored: the manifest goes to storage
 * (storeManifest), then the dataset is registered and its key goes to custody
 * (registerStoredDataset). Shared by the browser's upload (uploadParquet, bytes); the Node upload
 * stores through sealTable and then registers the same way.
 */
export async function publishDataset(client: W3aClient, p: PublishDatasetParameters): Promise<PublishDatasetReturnType> {
  const account = requireAccount(client, 'dataset upload')
  const network = await client.network()
  const { manifestCid, manifest } = await storeManifest(client, { account, chainId: network.chainId, id: p.id, dek: p.dek, name: p.name, columns: p.columns, privacyUnit: p.privacyUnit, rows: p.rows, segments: p.segments, chunkSize: p.chunkSize })
  return registerStoredDataset(client, { id: p.id, salt: p.salt, dek: p.dek, name: p.name, manifestCid: manifestCid.toString(), schema: manifest.schema, ...(p.onStage ? { onStage: p.onStage } : {}) })
}

/** A stored dataset registered on chain unlisted, and its key put in custody, sealed to the keepers' epoch key. */
export async function registerStoredDataset(
  client: W3aClient,
  p: { id: Hex; salt: Hex; dek: Uint8Array; name: string; manifestCid: string; schema: DatasetManifest['schema']; onStage?: (stage: PublishStage, done: boolean) => void },
): Promise<PublishDatasetReturnType> {
  const account = requireAccount(client, 'dataset upload')
  const network = await client.network()
  p.onStage?.('register', false)
  const receipt = await registerDataset(walletFor(network, account), {
    registry: network.contracts.datasetRegistry,
    salt: p.salt,
    name: p.name,
    manifestCid: p.manifestCid,
    schemaHash: schemaHash(p.schema),
    // Registered unlisted: the price is set when the owner lists it (listOnMarket).
    pricePerQuery: 0n,
  })
  p.onStage?.('register', true)

  p.onStage?.('custody', false)
  const custody = await registerDatasetKey(client, { id: p.id, salt: p.salt, manifestCid: p.manifestCid, dek: p.dek })
  p.onStage?.('custody', true)
  return { manifestCid: p.manifestCid, tx: receipt.hash, custody: { index: custody.index, keeper: custody.keeper, tx: custody.tx } }
}
