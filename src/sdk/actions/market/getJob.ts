import { W3aError } from '../../../core/errors.js'
import { getJob as getJobOnChain, TxRevertedError, type Job } from '../../../chain/portable.js'
import type { W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'

export type GetJobParameters = { id: bigint }
export type GetJobReturnType = Job

/** One job's chain record; JOB_NOT_FOUND for an id never submitted. */
export async function getJob(client: W3aClient, params: GetJobParameters): Promise<GetJobReturnType> {
  if (params.id < 0n) throw new W3aError('INVALID_ARGUMENT', `a job id is a non-negative integer, got ${params.id}`)
  const { network, publicClient } = await chainReader(client)
  try {
    return await getJobOnChain(publicClient, { jobs: network.contracts.jobs, jobId: params.id })
  } catch (e) {
    if (e instanceof TxRevertedError && e.errorName === 'UnknownJob') {
      throw new W3aError('JOB_NOT_FOUND', `no job ${params.id} on this network`, { details: ['`w3a job ls` lists the jobs.'], cause: e })
    }
    throw e
  }
}
