import type { Address } from 'viem'
import { storageMarketAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf } from '../write.js'

export type IsStorageEraSettledParameters = { storageMarket: Address; orderId: bigint; era: bigint }
export type IsStorageEraSettledReturnType = boolean

/** Whether `settle(orderId, era)` already ran (it runs once per order and era). */
export async function isStorageEraSettled(publicClient: ChainPublicClient, params: IsStorageEraSettledParameters): Promise<IsStorageEraSettledReturnType> {
  return withChainErrors(
    () => publicClient.readContract({ address: params.storageMarket, abi: storageMarketAbi, functionName: 'settled', args: [params.orderId, params.era] }),
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
