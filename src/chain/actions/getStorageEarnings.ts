import type { Address } from 'viem'
import { storageMarketAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf } from '../write.js'

export type GetStorageEarningsParameters = { storageMarket: Address; account: Address; blockNumber?: bigint }
export type GetStorageEarningsReturnType = bigint

/** Token base units the account can claim on the storage market now. */
export async function getStorageEarnings(publicClient: ChainPublicClient, params: GetStorageEarningsParameters): Promise<GetStorageEarningsReturnType> {
  return withChainErrors(
    () =>
      publicClient.readContract({
        address: params.storageMarket,
        abi: storageMarketAbi,
        functionName: 'storageEarnings',
        args: [params.account],
        ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
      }),
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
