import type { Address } from 'viem'
import { storageMarketAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { storageOrderFromStruct, type StorageOrder } from '../storage.js'
import { rpcUrlOf } from '../write.js'

export type GetStorageOrderParameters = { storageMarket: Address; orderId: bigint; blockNumber?: bigint }
export type GetStorageOrderReturnType = StorageOrder

/** One storage order (UnknownOrder when there is none with that id). */
export async function getStorageOrder(publicClient: ChainPublicClient, params: GetStorageOrderParameters): Promise<GetStorageOrderReturnType> {
  return withChainErrors(
    async () => {
      const o = await publicClient.readContract({
        address: params.storageMarket,
        abi: storageMarketAbi,
        functionName: 'getOrder',
        args: [params.orderId],
        ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
      })
      return storageOrderFromStruct(params.orderId, o)
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
