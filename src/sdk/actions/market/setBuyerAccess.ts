import type { Address, Hash, Hex } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { getBuyerAccess, setBuyerAccess as setBuyerAccessOnChain } from '../../../chain/portable.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'
import { walletFor } from '../../wallet.js'
import { requireDataset } from './dataset.js'

export type SetBuyerAccessParameters = {
  id: Hex
  /** true: anyone may buy credits (and keepers let every buyer's jobs run); false: only admitted buyers. */
  open?: boolean
  /** Buyers to admit one by one. */
  admit?: readonly Address[]
  /** Buyers no longer admitted (they may then refund their unused credits). */
  remove?: readonly Address[]
}

export type SetBuyerAccessReturnType = { id: Hex; open: boolean; hashes: Hash[] }

/**
 * Owner only: who may buy credits of the dataset, on chain. Keepers count what the listing admits
 * as access (no grant needed, the custody allow/deny lists do not apply to them), so a buyer
 * never pays for queries they may not run; the ε budgets still hold.
 */
export async function setBuyerAccess(client: W3aClient, params: SetBuyerAccessParameters): Promise<SetBuyerAccessReturnType> {
  const account = requireAccount(client, 'market access')
  if (params.open === undefined && !params.admit?.length && !params.remove?.length) {
    throw new W3aError('INVALID_ARGUMENT', 'say what to change: open, admit or remove')
  }
  const { network, publicClient } = await chainReader(client)
  const { market, datasetRegistry } = network.contracts
  const dataset = await requireDataset(publicClient, datasetRegistry, params.id)
  if (dataset.owner.toLowerCase() !== account.address.toLowerCase()) {
    throw new W3aError('NOT_OWNER', `dataset ${params.id} belongs to ${dataset.owner}, not to ${account.address}`)
  }
  const wallet = walletFor(network, account)
  const hashes: Hash[] = []
  const base = { market, datasetId: params.id }
  if (params.open !== undefined) hashes.push((await setBuyerAccessOnChain(wallet, { ...base, open: params.open })).hash)
  for (const buyer of params.admit ?? []) hashes.push((await setBuyerAccessOnChain(wallet, { ...base, buyer, admitted: true })).hash)
  for (const buyer of params.remove ?? []) hashes.push((await setBuyerAccessOnChain(wallet, { ...base, buyer, admitted: false })).hash)
  const { open } = await getBuyerAccess(publicClient, { ...base, buyer: account.address })
  return { id: params.id, open, hashes }
}
