import type { Address, Hex } from 'viem'
import { jobsAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { jobFromStruct, type Job, type JobStatus } from '../jobs.js'
import { rpcUrlOf } from '../write.js'

export type ListJobsParameters = {
  jobs: Address
  analyst?: Address
  /** The currently assigned worker. */
  worker?: Address
  datasetId?: Hex
  status?: JobStatus | readonly JobStatus[]
  /** Jobs read per call (default 100). */
  pageSize?: number
  blockNumber?: bigint
}

export type ListJobsReturnType = Job[]

/**
 * Every job matching the filters, in id order. Reads the whole list in pages of one block
 * (filters are applied client side: O(jobs); an indexer replaces this on large networks).
 */
export async function listJobs(publicClient: ChainPublicClient, params: ListJobsParameters): Promise<ListJobsReturnType> {
  const page = BigInt(Math.max(1, params.pageSize ?? 100))
  const statuses = params.status === undefined ? undefined : new Set<JobStatus>(typeof params.status === 'string' ? [params.status] : params.status)
  const eq = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()
  return withChainErrors(
    async () => {
      const blockNumber = params.blockNumber ?? (await publicClient.getBlockNumber({ cacheTime: 0 }))
      const read = { address: params.jobs, abi: jobsAbi, blockNumber } as const
      const count = await publicClient.readContract({ ...read, functionName: 'jobCount' })
      const out: Job[] = []
      for (let offset = 0n; offset < count; offset += page) {
        const items = await publicClient.readContract({ ...read, functionName: 'slice', args: [offset, page] })
        items.forEach((j, i) => {
          const job = jobFromStruct(offset + BigInt(i), j)
          if (params.analyst !== undefined && !eq(job.analyst, params.analyst)) return
          if (params.worker !== undefined && !eq(job.worker, params.worker)) return
          if (params.datasetId !== undefined && !eq(job.datasetId, params.datasetId)) return
          if (statuses !== undefined && !statuses.has(job.status)) return
          out.push(job)
        })
      }
      return out
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
