import { hexToBytes } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { openAsAnalyst, parseOutput, type JobOutput } from '../../../analysis/job-output.js'
import { failureReasonOfCode, type JobFailureReason, type ResultEnvelope } from '../../../analysis/job-envelope.js'
import { deriveAnalystResultKey } from '../../../crypto/analyst-result-key.js'
import { requireAccount, type W3aClient } from '../../client.js'

export type OpenJobResultParameters = { envelope: ResultEnvelope }

export type OpenJobResultReturnType =
  | { status: 'completed'; output: JobOutput }
  | { status: 'failed'; reason: JobFailureReason; reasonCode: number; /** The worker's explanation, sealed to the analyst (it may quote their SQL). */ detail?: string }

/**
 * The analyst opens a verified result envelope (verifyJob) with their wallet-derived result
 * key: the output, checked against the hash the worker signed, or the failure and its detail.
 */
export async function openJobResult(client: W3aClient, params: OpenJobResultParameters): Promise<OpenJobResultReturnType> {
  const account = requireAccount(client, 'opening a job result')
  const e = params.envelope
  const key = await deriveAnalystResultKey({ account, chainId: e.chainId })
  const aad = { chainId: e.chainId, jobs: e.jobs, jobId: BigInt(e.jobId), worker: e.worker }
  const open = async (sealed: { enc: `0x${string}`; ciphertext: `0x${string}` }) => {
    try {
      return await openAsAnalyst({ ...aad, privateKey: key.privateKey, enc: hexToBytes(sealed.enc), ciphertext: hexToBytes(sealed.ciphertext) })
    } catch (cause) {
      throw new W3aError('HPKE_OPEN_FAILED', `the result of job ${e.jobId} does not open with ${account.address}'s result key`, {
        cause,
        details: ['Only the analyst who submitted the job can open its result.'],
      })
    }
  }
  try {
    if (e.status === 'completed') return { status: 'completed', output: parseOutput(await open(e.output), e.outputHash) }
    const reason = failureReasonOfCode(e.report.reasonCode) ?? e.report.reason
    const detail = e.report.detail ? new TextDecoder().decode(await open(e.report.detail)) : undefined
    return { status: 'failed', reason, reasonCode: e.report.reasonCode, ...(detail === undefined ? {} : { detail }) }
  } finally {
    key.privateKey.fill(0)
  }
}
