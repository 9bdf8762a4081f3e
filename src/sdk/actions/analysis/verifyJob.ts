import { hexToBytes, isAddressEqual, recoverMessageAddress, type Address, type Hex } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { digestFieldsOf, failureDigest, getWorker, poolResultDigest, resultDigest, royaltyRoot, type Job } from '../../../chain/portable.js'
import { parseResultEnvelope, type ResultEnvelope } from '../../../analysis/job-envelope.js'
import { verifyWorkerQuote } from '../../../tee/verify-quote.js'
import type { VerifiedQuote } from '../../../tee/types.js'
import type { W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'
import { fetchRegisteredQuote, networkTeePolicy } from '../../worker-attestation.js'
import { getJob } from '../market/getJob.js'

export type VerifyJobParameters = {
  id: bigint
  /** Intel DCAP collateral, needed to verify a tdx/sgx worker's quote (sim quotes need none). */
  collateral?: unknown
  /** Verify the quote as of this time, unix seconds (default now). */
  now?: number
}

export type VerifyJobReturnType = {
  job: Job
  /** The worker's public result record, whose signature was checked. */
  envelope: ResultEnvelope
  worker: { address: Address; endpoint: string; teeType: string; measurement: Hex }
  /** The worker's quote, verified and bound to its registered keys on this chain and registry. */
  attestation: VerifiedQuote
}

/**
 * Checks a finished job's result as anyone can, trusting neither the worker's host nor the
 * gateway: the result envelope is the one for this job on this chain and Jobs contract; the
 * worker key's signature over the contract's digest recovers to the job's worker; the output
 * (or failure) hash is the one the contract accepted; and the worker's quote is the one it
 * registered with, verifies (sim only where the registry allows it; tdx/sgx with DCAP
 * collateral), has an allowed measurement, passes the registry's TCB policy (status, advisories,
 * age of the verification and of the registration), and binds the worker key. Any failing check
 * throws RESULT_INVALID, ATTESTATION_INVALID, TCB_NOT_ALLOWED or ATTESTATION_TOO_OLD saying which.
 */
export async function verifyJob(client: W3aClient, params: VerifyJobParameters): Promise<VerifyJobReturnType> {
  const job = await getJob(client, { id: params.id })
  if (job.status === 'open') throw new W3aError('JOB_PENDING', `job ${job.id} is still running (worker ${job.worker})`, { details: ['Wait, then verify again.'] })
  if (job.status === 'refunded') throw new W3aError('JOB_TIMEOUT', `job ${job.id} timed out and was refunded: there is no result to verify`)
  const { network, publicClient } = await chainReader(client)
  const registry = network.contracts.workerRegistry
  const w = await getWorker(publicClient, { registry, worker: job.worker })
  const base = w.endpoint.replace(/\/+$/, '')

  const envelope = parseResultEnvelope(await fetchJson(`${base}/v1/jobs/${job.id}/result`, `the result of job ${job.id}`))
  await checkResultEnvelope({ envelope, job, chainId: network.chainId, jobs: network.contracts.jobs })

  const quote = await fetchRegisteredQuote({ address: job.worker, endpoint: w.endpoint, attestationHash: w.attestationHash })
  const attestation = await verifyWorkerQuote(quote, await networkTeePolicy(publicClient, registry, params), {
    worker: job.worker,
    hpkePublicKey: hexToBytes(w.hpkePublicKey),
    chainId: network.chainId,
    registry,
    registeredAt: w.registeredAt,
  })
  return { job, envelope, worker: { address: w.address, endpoint: w.endpoint, teeType: w.teeType, measurement: w.measurement }, attestation }
}

/**
 * The checks on a result envelope that need only the job's chain record: it is for this job,
 * chain and contract; its hash is the one the contract accepted; its signature over the
 * contract's digest recovers to the job's worker. Throws RESULT_INVALID saying which failed.
 */
export async function checkResultEnvelope(p: { envelope: ResultEnvelope; job: Job; chainId: number; jobs: Address }): Promise<void> {
  const { envelope, job } = p
  const invalid = (what: string, details: string[] = []) => new W3aError('RESULT_INVALID', `job ${job.id}: ${what}`, { details })
  if (envelope.chainId !== p.chainId || !isAddressEqual(envelope.jobs, p.jobs) || envelope.jobId !== job.id.toString()) {
    throw invalid('the result envelope is for another job, chain or contract')
  }
  if (!isAddressEqual(envelope.worker, job.worker)) throw invalid(`the result envelope names worker ${envelope.worker}, the job's worker is ${job.worker}`)
  const domain = { chainId: p.chainId, jobs: p.jobs, ...digestFieldsOf(job) }
  let digest: Hex
  if (envelope.status === 'completed') {
    if (job.status !== 'completed') throw invalid(`the worker reports a result, the chain says ${job.status}`)
    if (envelope.outputHash !== job.outputHash.toLowerCase()) throw invalid('the output hash differs from the one on chain', [`chain ${job.outputHash}`, `envelope ${envelope.outputHash}`])
    if (job.pool) {
      // A pool job's signature also covers its contributors' weights: the list must make the signed root.
      const r = envelope.royalties
      if (!r) throw invalid('a pool job result carries no contributor weights')
      const weights = r.weights.map((w) => ({ contributor: w.contributor as Address, weight: BigInt(w.weight) }))
      const { root, totalWeight } = royaltyRoot(weights)
      if (root !== r.weightsRoot || totalWeight.toString() !== r.totalWeight) throw invalid('the contributor weights do not make the root the worker signed')
      digest = poolResultDigest({ ...domain, outputHash: envelope.outputHash, weightsRoot: root, totalWeight })
    } else {
      digest = resultDigest({ ...domain, outputHash: envelope.outputHash })
    }
  } else {
    if (job.status !== 'failed') throw invalid(`the worker reports a failure, the chain says ${job.status}`)
    if (envelope.reasonHash !== job.outputHash.toLowerCase() || envelope.report.reasonCode !== job.reasonCode) throw invalid('the failure report differs from the one on chain')
    digest = failureDigest({ ...domain, reasonCode: envelope.report.reasonCode, reasonHash: envelope.reasonHash })
  }
  const signer = await recoverMessageAddress({ message: { raw: digest }, signature: envelope.signature }).catch(() => undefined)
  if (!signer || !isAddressEqual(signer, job.worker)) throw invalid(`the signature is not by the job's worker ${job.worker}`)
}

async function fetchJson(url: string, what: string): Promise<unknown> {
  let res: Response
  try {
    res = await fetch(url)
  } catch (cause) {
    throw new W3aError('WORKER_UNREACHABLE', `cannot fetch ${what} from ${new URL(url).origin}`, { cause, details: ['The worker that ran the job serves its result; it may be offline.'] })
  }
  if (!res.ok) throw new W3aError('WORKER_UNREACHABLE', `${new URL(url).origin} answered ${res.status} for ${what}`)
  try {
    return await res.json()
  } catch {
    throw new W3aError('RESULT_INVALID', `${what} is not JSON`)
  }
}
