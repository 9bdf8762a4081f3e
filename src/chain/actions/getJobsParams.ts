import type { Address } from 'viem'
import { jobsAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import type { JobsParams } from '../jobs.js'
import { rpcUrlOf } from '../write.js'

export type GetJobsParamsParameters = { jobs: Address; blockNumber?: bigint }
export type GetJobsParamsReturnType = JobsParams & { market: Address; workerRegistry: Address; token: Address; governance: Address; storageMarket: Address }

/** The Jobs contract's governance parameters and the contracts it uses. */
export async function getJobsParams(publicClient: ChainPublicClient, params: GetJobsParamsParameters): Promise<GetJobsParamsReturnType> {
  return withChainErrors(
    async () => {
      const read = { address: params.jobs, abi: jobsAbi, ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }) } as const
      const [p, market, workerRegistry, token, governance, storageMarket] = await Promise.all([
        publicClient.readContract({ ...read, functionName: 'params' }),
        publicClient.readContract({ ...read, functionName: 'market' }),
        publicClient.readContract({ ...read, functionName: 'workers' }),
        publicClient.readContract({ ...read, functionName: 'token' }),
        publicClient.readContract({ ...read, functionName: 'governance' }),
        publicClient.readContract({ ...read, functionName: 'storageMarket' }),
      ])
      return {
        ownerShareBps: p.ownerShareBps,
        workerShareBps: p.workerShareBps,
        treasuryShareBps: p.treasuryShareBps,
        storageBps: p.storageBps,
        jobTimeout: p.jobTimeout,
        slashAmount: p.slashAmount,
        treasury: p.treasury,
        market,
        workerRegistry,
        token,
        governance,
        storageMarket,
      }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
