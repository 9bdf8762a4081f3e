import { W3aError } from '../../../core/errors.js'
import { timeoutJob, type Job } from '../../../chain/portable.js'
import type { W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'
import { cliHint } from '../../cli-hint.js'
import { walletFor } from '../../wallet.js'
import { getJob } from '../market/getJob.js'

export type WaitForJobParameters = {
  id: bigint
  /** Give up after this long; the job goes on. By default it waits until the job's own deadline (plus a short grace). */
  timeoutMs?: number
  pollMs?: number
  /** Called when the job changes worker (a timeout reassigned it). */
  onReassigned?: (job: Job) => void
}

export type WaitForJobReturnType = Job

/**
 * Waits until a job is completed, failed or refunded. Once its deadline has passed, the client's
 * account (when it has one) calls `timeout` itself, so a stalled worker is slashed and the job
 * reassigned or refunded without waiting for anybody else. Without `timeoutMs` it stops with
 * JOB_PENDING once the job's current deadline is more than DEADLINE_GRACE_S behind: a job
 * nobody timed out by then will not end by itself.
 */
/** Seconds after a job's deadline that a wait goes on (a block to mine the worker's answer or the timeout). */
const DEADLINE_GRACE_S = 30

export async function waitForJob(client: W3aClient, params: WaitForJobParameters): Promise<WaitForJobReturnType> {
  const explicitUntil = params.timeoutMs === undefined ? undefined : Date.now() + params.timeoutMs
  const pollMs = params.pollMs ?? 100
  let worker: string | undefined
  const { network, publicClient } = await chainReader(client)
  // The chain's clock, not this machine's: read once, then followed with the wall clock (polls stay one read).
  const skew = Number((await publicClient.getBlock({ blockTag: 'latest' })).timestamp) - Date.now() / 1000
  const chainNow = () => Date.now() / 1000 + skew
  for (;;) {
    const job = await getJob(client, { id: params.id })
    if (job.status !== 'open') return job
    if (worker !== undefined && worker !== job.worker) params.onReassigned?.(job)
    worker = job.worker
    // The estimated chain clock first, so that a poll costs one read until the deadline is near.
    const account = client.account
    if (account && chainNow() > job.deadline && Number((await publicClient.getBlock({ blockTag: 'latest' })).timestamp) > job.deadline) {
      // Someone else may have called it first; if it fails for another reason, the overdue check below ends the wait.
      const ended = await timeoutJob(walletFor(network, account), { jobs: network.contracts.jobs, jobId: job.id }).then(
        () => true,
        () => false,
      )
      if (ended) continue
    }
    const overdue = chainNow() > job.deadline + DEADLINE_GRACE_S
    if (explicitUntil === undefined ? overdue : Date.now() > explicitUntil) {
      throw new W3aError('JOB_PENDING', overdue ? `job ${job.id} is past its deadline and still open on worker ${job.worker}` : `job ${job.id} is still running on worker ${job.worker}`, {
        details: [
          `deadline ${new Date(job.deadline * 1000).toISOString()}`,
          ...(overdue ? [`Anyone can end it: w3a job timeout ${job.id} (reassigns it once, then refunds it)`] : []),
          `Check later with: w3a job show ${job.id}` + (account ? `; read the result with: ${cliHint(`w3a job result ${job.id}`, account.address)}` : ''),
        ],
      })
    }
    await new Promise((r) => setTimeout(r, pollMs))
  }
}
