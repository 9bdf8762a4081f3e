import type { Address } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf } from '../write.js'

export type GetCurrentEpochParameters = {
  registry: Address
  /** Read at this block (default: latest). */
  blockNumber?: bigint
}

/** block.number / epochLength, as the registry computes it. */
export type GetCurrentEpochReturnType = bigint

/** The custody epoch of the latest block (or of `blockNumber`). */
export async function getCurrentEpoch(publicClient: ChainPublicClient, params: GetCurrentEpochParameters): Promise<GetCurrentEpochReturnType> {
  return withChainErrors(
    () =>
      publicClient.readContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'currentEpoch',
        ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
      }),
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
