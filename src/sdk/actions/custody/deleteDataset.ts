import type { Hex } from 'viem'
import { setDatasetStatus } from '../../../chain/portable.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { assertApplied, chainReader, commandExpiry, newNonce, postOwnerCommand, type PostOwnerCommandReturnType } from '../../custody-channel.js'
import { walletFor } from '../../wallet.js'

export type DeleteDatasetParameters = { id: Hex }
export type DeleteDatasetReturnType = PostOwnerCommandReturnType & { registryTx: Hex }

/**
 * Deletes a dataset: the keepers drop its key at once (crypto-shredding; the signed receipt
 * names the epoch after which no ciphertext of the key can be opened by anyone), and the
 * public registry marks it deleted so it is never offered again.
 */
export async function deleteDataset(client: W3aClient, params: DeleteDatasetParameters): Promise<DeleteDatasetReturnType> {
  const account = requireAccount(client, 'delete')
  const out = assertApplied(
    await postOwnerCommand(client, { account, command: { type: 'Delete', message: { datasetId: params.id, nonce: newNonce(), expiry: commandExpiry() } } }),
    'delete',
  )
  const { network } = await chainReader(client)
  const reg = await setDatasetStatus(walletFor(network, account), { registry: network.contracts.datasetRegistry, id: params.id, status: 'deleted' })
  return { ...out, registryTx: reg.hash }
}
