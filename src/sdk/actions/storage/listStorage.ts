import type { Address, Hex } from 'viem'
import { listStorageNodes, listStorageOrders, getStorageMarketParams, type StorageNode, type StorageOrder, type StorageOrderStatus } from '../../../chain/portable.js'
import type { W3aClient } from '../../client.js'
import { chainReader } from '../../chain-reader.js'

export type ListStorageOrdersParameters = { datasetId?: Hex; owner?: Address; node?: Address; status?: StorageOrderStatus }
export type ListStorageOrdersReturnType = { currentEra: bigint; orders: StorageOrder[] }

/** The network's storage orders matching the filters, and the current era. */
export async function listStorageOrdersOf(client: W3aClient, params: ListStorageOrdersParameters = {}): Promise<ListStorageOrdersReturnType> {
  const { network, publicClient } = await chainReader(client)
  const storageMarket = network.contracts.storageMarket
  const [{ currentEra }, orders] = await Promise.all([getStorageMarketParams(publicClient, { storageMarket }), listStorageOrders(publicClient, { storageMarket, ...params })])
  return { currentEra, orders }
}

export type ListStorageNodesParameters = { operator?: Address }
export type ListStorageNodesReturnType = StorageNode[]

/** The network's registered storage nodes (of one operator, when given). */
export async function listStorageNodesOf(client: W3aClient, params: ListStorageNodesParameters = {}): Promise<ListStorageNodesReturnType> {
  const { network, publicClient } = await chainReader(client)
  return listStorageNodes(publicClient, { storageMarket: network.contracts.storageMarket, ...params })
}
