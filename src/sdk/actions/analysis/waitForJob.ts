import { W3aError } from '../../../core/errors.js'
import { timeoutJob, type Job } from '../../../chain/portable.js'
import type { W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'
import { cliHint } from '../../cli-hint.js'
import { walletFor } from '../../wallet.js'
import { getJob } from '../market/getJob.js'

export type WaitForJobParameters = {
  id: bigint
  /** Give up after this long (default 10 minutes); the job goes on. */
  timeoutMs?: number
  pollMs?: number
  /** Called when the job changes worker (a timeout reassigned it). */
  onReassigned?: (job: Job) => void
}

export type WaitForJobReturnType = Job

/**
 * Waits until a job is completed, failed or refunded. Once its deadline has passed, the client's
 * account (when it has one) calls `timeout` itself, so a stalled worker is slashed and the job
 * reassigned or refunded without waiting for anybody else.
 */
export async function waitForJob(client: W3aClient, params: WaitForJobParameters): Promise<WaitForJobReturnType> {
  const until = Date.now() + (params.timeoutMs ?? 600_000)
  const pollMs = params.pollMs ?? 100
  let worker: string | undefined
  const { network, publicClient } = await chainReader(client)
  for (;;) {
    const job = await getJob(client, { id: params.id })
    if (job.status !== 'open') return job
    if (worker !== undefined && worker !== job.worker) params.onReassigned?.(job)
    worker = job.worker
    // The wall clock first, so that a poll costs one read until the deadline is near.
    const account = client.account
    if (account && Date.now() / 1000 > job.deadline && Number((await publicClient.getBlock({ blockTag: 'latest' })).timestamp) > job.deadline) {
      await timeoutJob(walletFor(network, account), { jobs: network.contracts.jobs, jobId: job.id }).catch(() => undefined) // someone else may have called it first
      continue
    }
    if (Date.now() > until) {
      throw new W3aError('JOB_PENDING', `job ${job.id} is still running on worker ${job.worker}`, {
        details: [
          `deadline ${new Date(job.deadline * 1000).toISOString()}`,
          `Check later with: w3a job show ${job.id}` + (account ? `; read the result with: ${cliHint(`w3a job result ${job.id}`, account.address)}` : ''),
        ],
      })
    }
    await new Promise((r) => setTimeout(r, pollMs))
  }
}
