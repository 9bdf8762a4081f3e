import type { Address } from 'viem'
import { storageMarketAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { storageNodeFromView, type StorageNode } from '../storage.js'
import { rpcUrlOf } from '../write.js'

export type GetStorageNodeParameters = { storageMarket: Address; worker: Address; blockNumber?: bigint }
export type GetStorageNodeReturnType = StorageNode & { orderIds: bigint[] }

/** One storage node and the active orders assigned to it (UnknownNode when not registered). */
export async function getStorageNode(publicClient: ChainPublicClient, params: GetStorageNodeParameters): Promise<GetStorageNodeReturnType> {
  return withChainErrors(
    async () => {
      const read = {
        address: params.storageMarket,
        abi: storageMarketAbi,
        blockNumber: params.blockNumber ?? (await publicClient.getBlockNumber({ cacheTime: 0 })),
      } as const
      const [view, orderIds] = await Promise.all([
        publicClient.readContract({ ...read, functionName: 'getNode', args: [params.worker] }),
        publicClient.readContract({ ...read, functionName: 'ordersOfNode', args: [params.worker] }),
      ])
      return { ...storageNodeFromView(view), orderIds: [...orderIds] }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
