import type { Hash, Hex } from 'viem'
import { endStorageOrder, listStorageOrders } from '../../../chain/portable.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { chainReader } from '../../chain-reader.js'
import { walletFor } from '../../wallet.js'
import { readTokenInfo, tokenAmount, type TokenAmount } from '../market/token.js'

export type EndDatasetStorageParameters = { id: Hex }
export type EndDatasetStorageReturnType = { id: Hex; ended: { orderId: bigint; refund: TokenAmount; tx: Hash }[] }

/**
 * Ends every active storage order of the dataset (the client's account must be the orders'
 * owner, or the dataset deleted): the nodes drop its blocks, the escrow of the eras left comes
 * back. No active order: nothing is sent.
 */
export async function endDatasetStorage(client: W3aClient, params: EndDatasetStorageParameters): Promise<EndDatasetStorageReturnType> {
  const account = requireAccount(client, 'end storage orders')
  const { network, publicClient } = await chainReader(client)
  const storageMarket = network.contracts.storageMarket
  const orders = await listStorageOrders(publicClient, { storageMarket, datasetId: params.id, status: 'active' })
  if (orders.length === 0) return { id: params.id, ended: [] }
  const info = await readTokenInfo(publicClient, network.chainId, network.contracts.token)
  const wallet = walletFor(network, account)
  const ended: EndDatasetStorageReturnType['ended'] = []
  for (const o of orders) {
    const r = await endStorageOrder(wallet, { storageMarket, orderId: o.id })
    ended.push({ orderId: o.id, refund: tokenAmount(r.refund, info), tx: r.hash })
  }
  return { id: params.id, ended }
}
