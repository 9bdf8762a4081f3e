import type { Address, Hex } from 'viem'
import { storageMarketAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { storageOrderFromStruct, type StorageOrder, type StorageOrderStatus } from '../storage.js'
import { rpcUrlOf } from '../write.js'

export type ListStorageOrdersParameters = {
  storageMarket: Address
  datasetId?: Hex
  owner?: Address
  /** Orders this node (worker key) is assigned to now. */
  node?: Address
  status?: StorageOrderStatus | readonly StorageOrderStatus[]
  /** Orders read per call (default 100). */
  pageSize?: number
}

export type ListStorageOrdersReturnType = StorageOrder[]

/** Every storage order matching the filters, in id order (pages of one block; filters applied client side). */
export async function listStorageOrders(publicClient: ChainPublicClient, params: ListStorageOrdersParameters): Promise<ListStorageOrdersReturnType> {
  const page = BigInt(Math.max(1, params.pageSize ?? 100))
  const statuses = params.status === undefined ? undefined : new Set<StorageOrderStatus>(typeof params.status === 'string' ? [params.status] : params.status)
  const eq = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()
  return withChainErrors(
    async () => {
      const blockNumber = await publicClient.getBlockNumber({ cacheTime: 0 })
      const read = { address: params.storageMarket, abi: storageMarketAbi, blockNumber } as const
      const count = await publicClient.readContract({ ...read, functionName: 'orderCount' })
      const out: StorageOrder[] = []
      for (let offset = 0n; offset < count; offset += page) {
        const items = await publicClient.readContract({ ...read, functionName: 'orderSlice', args: [offset, page] })
        items.forEach((s, i) => {
          const o = storageOrderFromStruct(offset + BigInt(i), s)
          if (params.datasetId !== undefined && !eq(o.datasetId, params.datasetId)) return
          if (params.owner !== undefined && !eq(o.owner, params.owner)) return
          if (params.node !== undefined && !o.nodes.some((n) => eq(n, params.node!))) return
          if (statuses && !statuses.has(o.status)) return
          out.push(o)
        })
      }
      return out
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
