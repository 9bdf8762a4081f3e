import type { Hex } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { setDatasetStatus } from '../../../chain/portable.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { assertApplied, chainReader, commandExpiry, newNonce, postOwnerCommand, type PostOwnerCommandReturnType } from '../../custody-channel.js'
import { walletFor } from '../../wallet.js'
import { requireDataset } from '../market/dataset.js'
import { endDatasetStorage, type EndDatasetStorageReturnType } from '../storage/endDatasetStorage.js'

export type DeleteDatasetParameters = { id: Hex }

/** What one storage node answered to POST /api/v1/datasets/{id}/drop. */
export type StorageDrop =
  | { node: string; blocks: number; bytes: number; kept: number; missing: number }
  | { node: string; error: string }

export type DeleteDatasetStorage = {
  /** Totals over the nodes that answered. */
  blocks: number
  bytes: number
  nodes: StorageDrop[]
}

export type DeleteDatasetReturnType =
  | (PostOwnerCommandReturnType & { id: Hex; alreadyDeleted: false; registryTx: Hex; storage: DeleteDatasetStorage; storageOrders: EndDatasetStorageReturnType['ended'] })
  /**
   * The registry already showed it deleted: no deletion was sent (the storage drop is asked again, it
   * is free and idempotent, and storage orders still active are ended).
   */
  | { id: Hex; alreadyDeleted: true; storage: DeleteDatasetStorage; storageOrders: EndDatasetStorageReturnType['ended'] }

/**
 * Deletes a dataset: the keepers drop its key at once (crypto-shredding; the signed receipt
 * names the epoch after which no ciphertext of the key can be opened by anyone), the public
 * registry marks it deleted so it is never offered again, its active storage orders are ended
 * (the escrow of the eras left comes back; the assigned storage nodes drop its blocks on
 * `OrderEnded`), and then the storage node behind the gateway is asked to drop its blocks
 * (manifest with the owner's wrapped key, and segments).
 *
 * The registry is read first: a dataset already deleted sends nothing (`alreadyDeleted`), and
 * one of another account is NOT_OWNER before anything is signed. A storage node that fails to
 * drop does not undo the deletion: its error is in `storage.nodes`, and deleting again retries.
 */
export async function deleteDataset(client: W3aClient, params: DeleteDatasetParameters): Promise<DeleteDatasetReturnType> {
  const account = requireAccount(client, 'delete')
  const { network, publicClient } = await chainReader(client)
  const registry = network.contracts.datasetRegistry
  const dataset = await requireDataset(publicClient, registry, params.id)
  if (dataset.owner.toLowerCase() !== account.address.toLowerCase()) {
    throw new W3aError('NOT_OWNER', `dataset ${params.id} belongs to ${dataset.owner}, not to ${account.address}`)
  }
  if (dataset.status === 'deleted') {
    const storageOrders = (await endDatasetStorage(client, { id: params.id })).ended
    return { id: params.id, alreadyDeleted: true, storage: await dropBlocks(client, params.id), storageOrders }
  }

  const out = await postOwnerCommand(client, { account, command: { type: 'Delete', message: { datasetId: params.id, nonce: newNonce(), expiry: commandExpiry() } } })
  // A retry after a registry transaction that failed: the keepers shredded the key already.
  if (!(out.receipt.status === 'refused' && out.receipt.reason === 'dataset-deleted')) assertApplied(out, 'delete')
  const reg = await setDatasetStatus(walletFor(network, account), { registry, id: params.id, status: 'deleted' })
  const storageOrders = (await endDatasetStorage(client, { id: params.id })).ended
  return { ...out, id: params.id, alreadyDeleted: false, registryTx: reg.hash, storage: await dropBlocks(client, params.id), storageOrders }
}

async function dropBlocks(client: W3aClient, id: Hex): Promise<DeleteDatasetStorage> {
  const node = client.gateway.url
  let answer: StorageDrop
  try {
    const r = await client.gateway.postJson<{ blocks: number; bytes: number; kept: number; missing: number }>(`/api/v1/datasets/${id}/drop`)
    answer = { node, blocks: r.blocks, bytes: r.bytes, kept: r.kept, missing: r.missing }
  } catch (e) {
    answer = { node, error: e instanceof W3aError ? `${e.code}: ${e.shortMessage}` : String(e) }
  }
  const done = 'error' in answer ? [] : [answer]
  return { blocks: done.reduce((n, a) => n + a.blocks, 0), bytes: done.reduce((n, a) => n + a.bytes, 0), nodes: [answer] }
}
