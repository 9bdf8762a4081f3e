import type { Address, Hash, Hex } from 'viem'
import { W3aError } from '../../../core/errors.js'
import type { JobOutput, ReleasePrivacy } from '../../../analysis/job-output.js'
import { failureCostText } from '../../../analysis/job-envelope.js'
import type { VerifiedQuote } from '../../../tee/types.js'
import type { W3aClient } from '../../client.js'
import { openJobResult } from './openJobResult.js'
import { submitQuery, type SubmitQueryParameters } from './submitQuery.js'
import { verifyJob } from './verifyJob.js'
import { waitForJob } from './waitForJob.js'

export type RunQueryParameters = SubmitQueryParameters & {
  /** Give up waiting after this long (default 10 minutes); the job goes on. */
  timeoutMs?: number
  /** How often to read the job's status while waiting (default 100 ms). */
  pollMs?: number
  /** DCAP collateral for verifying a tdx/sgx worker (sim workers need none). */
  collateral?: unknown
  onProgress?: (stage: 'submit' | 'wait' | 'verify' | 'decrypt', detail?: string) => void
}

export type RunQueryReturnType = {
  jobId: bigint
  submitTx: Hash
  /** The worker that ran it, and its verified attestation. */
  worker: Address
  attestation: VerifiedQuote
  columns: JobOutput['columns']
  rows: JobOutput['rows']
  /** Rows suppressed, mechanism, noise scale, ε spent and left: signed with the rows. */
  privacy: ReleasePrivacy
  outputHash: Hex
}

/**
 * The analyst's whole flow: submit the SQL (submitQuery), wait for the job (waitForJob), verify
 * the worker's signature, the chain record and the worker's attestation (verifyJob), and open
 * the output with the wallet-derived result key (openJobResult). A failed job throws JOB_FAILED
 * with the worker's reason (a refused or failed query spends its credit and fee, other failures
 * are refunded: PAID_FAILURES); a refunded one JOB_TIMEOUT.
 */
export async function runQuery(client: W3aClient, params: RunQueryParameters): Promise<RunQueryReturnType> {
  const progress = params.onProgress ?? (() => undefined)
  progress('submit')
  const submitted = await submitQuery(client, params)
  progress('wait', `job ${submitted.jobId} on worker ${submitted.worker}`)
  const job = await waitForJob(client, { id: submitted.jobId, ...(params.timeoutMs === undefined ? {} : { timeoutMs: params.timeoutMs }), ...(params.pollMs === undefined ? {} : { pollMs: params.pollMs }) })
  if (job.status === 'refunded') {
    throw new W3aError('JOB_TIMEOUT', `job ${job.id} timed out twice and was refunded (credit and fee)`, { details: ['No worker finished it in time; try again later.'] })
  }
  progress('verify')
  const verified = await verifyJob(client, { id: job.id, ...(params.collateral === undefined ? {} : { collateral: params.collateral }) })
  progress('decrypt')
  const opened = await openJobResult(client, { envelope: verified.envelope })
  if (opened.status === 'failed') {
    throw new W3aError('JOB_FAILED', `job ${job.id} failed: ${opened.reason}`, {
      details: [...(opened.detail ? opened.detail.split('\n') : []), failureCostText(opened.reason)],
    })
  }
  return {
    jobId: job.id,
    submitTx: submitted.hash,
    worker: job.worker,
    attestation: verified.attestation,
    columns: opened.output.columns,
    rows: opened.output.rows,
    privacy: opened.output.privacy,
    outputHash: job.outputHash,
  }
}
