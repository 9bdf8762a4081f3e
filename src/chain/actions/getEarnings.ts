import type { Address } from 'viem'
import { jobsAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf } from '../write.js'

export type GetEarningsParameters = { jobs: Address; account: Address; blockNumber?: bigint }
/** Token base units claimable by the account. */
export type GetEarningsReturnType = bigint

/** What `account` can claim from the jobs contract. */
export async function getEarnings(publicClient: ChainPublicClient, params: GetEarningsParameters): Promise<GetEarningsReturnType> {
  return withChainErrors(
    () =>
      publicClient.readContract({
        address: params.jobs,
        abi: jobsAbi,
        functionName: 'earningsOf',
        args: [params.account],
        ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
      }),
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
