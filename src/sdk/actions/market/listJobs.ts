import type { Address, Hex } from 'viem'
import { listJobs as listJobsOnChain, type Job, type JobStatus } from '../../../chain/portable.js'
import type { W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'

export type ListJobsParameters = {
  analyst?: Address
  /** The currently assigned worker key. */
  worker?: Address
  datasetId?: Hex
  status?: JobStatus | readonly JobStatus[]
}

export type ListJobsReturnType = Job[]

/** Jobs on chain matching the filters, in id order (chain fields only; results are fetched separately). */
export async function listJobs(client: W3aClient, params: ListJobsParameters = {}): Promise<ListJobsReturnType> {
  const { network, publicClient } = await chainReader(client)
  return listJobsOnChain(publicClient, { jobs: network.contracts.jobs, ...params })
}
