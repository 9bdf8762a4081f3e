import type { Address } from 'viem'
import { jobsAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { jobFromStruct, type Job } from '../jobs.js'
import { rpcUrlOf } from '../write.js'

export type GetJobParameters = { jobs: Address; jobId: bigint; blockNumber?: bigint }
export type GetJobReturnType = Job

/** One job. An unknown id fails with TX_REVERTED "UnknownJob". */
export async function getJob(publicClient: ChainPublicClient, params: GetJobParameters): Promise<GetJobReturnType> {
  return withChainErrors(
    async () => {
      const j = await publicClient.readContract({
        address: params.jobs,
        abi: jobsAbi,
        functionName: 'getJob',
        args: [params.jobId],
        ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
      })
      return jobFromStruct(params.jobId, j)
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
