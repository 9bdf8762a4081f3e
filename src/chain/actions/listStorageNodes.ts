import type { Address } from 'viem'
import { storageMarketAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { storageNodeFromView, type StorageNode } from '../storage.js'
import { rpcUrlOf } from '../write.js'

export type ListStorageNodesParameters = { storageMarket: Address; operator?: Address; blockNumber?: bigint }
export type ListStorageNodesReturnType = StorageNode[]

/** Every registered storage node (of `operator`, when given), in registration order. */
export async function listStorageNodes(publicClient: ChainPublicClient, params: ListStorageNodesParameters): Promise<ListStorageNodesReturnType> {
  return withChainErrors(
    async () => {
      const views = await publicClient.readContract({
        address: params.storageMarket,
        abi: storageMarketAbi,
        functionName: 'nodes',
        ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
      })
      const nodes = views.map(storageNodeFromView)
      const op = params.operator?.toLowerCase()
      return op === undefined ? nodes : nodes.filter((n) => n.operator.toLowerCase() === op)
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
