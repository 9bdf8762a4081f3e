/**
 * The two enclave-side halves of running a job (docs/analysis.md, "How a job runs"):
 *
 * - keeper (`releaseJob`): for a job whose charge custody applied, opens the sealed analysis with
 *   the epoch's analysis key, checks it against the hashes the job committed to on chain, checks
 *   the job's worker is attested, and seals {dataset key, manifest, policy, analysis} to that
 *   worker's registered key;
 * - worker (`runJob`): opens the release, fetches the segments from storage (every block checked
 *   against its CID), decrypts them into anonymous memory files (never to storage), runs the checked SQL
 *   through the privacy gate, seals the output to the analyst and signs the result digest the
 *   Jobs contract checks. A failure the enclave reaches itself (or a keeper enclave's signed
 *   refusal it verified) becomes a signed failure report that says why, never with data; a
 *   refusal on the host's word alone is REFUSAL_UNVERIFIED and nothing is signed.
 *
 * Everything here runs inside the enclave process; the host only relays chain reads and bytes.
 */
import { bytesToHex, encodeAbiParameters, hexToBytes, keccak256, recoverMessageAddress, type Address, type Hex, type LocalAccount } from 'viem'
import { CID } from 'multiformats/cid'
import type { JobView } from './job-view.js'
import { MAX_JOB_WORKERS } from './job-releases.js'
import { W3aError, isW3aError } from '../core/errors.js'
import { inputCidsHashFor, signFailure, signResult } from '../chain/index.js'
import {
  analysisHash,
  epsilonMicros,
  openAnalysis,
  parseAnalysisRequest,
  parsePrivacyParams,
  privacyParamsHash,
  sealedAnalysisEpoch,
  canonicalOutput,
  outputHash,
  sealToAnalyst,
  failureReasonHash,
  runSqlAnalysis,
  JOB_FAILURE_CODES,
  failureDetail,
  failureOfError,
  type FailureReport,
  type JobFailureReason,
  type ResultEnvelope,
} from '../analysis/index.js'
import { ZERO_HASH, analysisKeyPair, chargeDigestOf, chargeQuorum, checkJobRelease, jobNoiseSeed, openJobRelease, sealJobRelease, type CustodyState, type JobRelease } from '../custody/index.js'
import { decodeManifest, verifyBlock } from '../storage/index.js'
import { openJobData, type JobData, type JobDataCache } from './job-data.js'
import { verifyWorkerQuote, type TeePolicy } from '../tee/index.js'

export type JobDomain = { chainId: number; jobs: Address; registry: Address }


export type WorkerOnChain = {
  address: Address
  hpkePublicKey: Hex
  isCompute: boolean
  eligible: boolean
  measurementAllowed: boolean
  /** Unix seconds; a registration older than the TCB policy's maxQuoteAge is refused. */
  registeredAt?: number
}

/**
 * A keeper enclave's final refusal to release a job, as a statement the worker enclave can check
 * itself: signed with the keeper's worker key over refusalDigest, with the keeper's quote binding
 * that key and its HPKE key. The host relays it; it cannot make one up.
 */
export type SignedRefusal = { reason: string; keeper: Address; hpkePublicKey: Hex; quote: Hex; signature: Hex }

/** A refusal to be retried (`retry`) is not final and carries no signed statement. */
export type ReleaseOutcome = { ok: true; sealed: { enc: Hex; ciphertext: Hex } } | { ok: false; reason: string; retry: boolean; refusal?: SignedRefusal }

export type RefusalDigestParameters = { chainId: number; jobs: Address; jobId: bigint; worker: Address; reason: string }

/** keccak256(abi.encode("w3a.refusal.v1", chainId, jobs, jobId, worker, reason)): signed EIP-191 by the keeper's worker key. */
export function refusalDigest(p: RefusalDigestParameters): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'string' }, { type: 'uint256' }, { type: 'address' }, { type: 'uint256' }, { type: 'address' }, { type: 'string' }],
      ['w3a.refusal.v1', BigInt(p.chainId), p.jobs, p.jobId, p.worker, p.reason],
    ),
  )
}

/** Keeper side: signs a final refusal for (job, worker) and returns it with the keeper's own quote. */
export async function signRefusal(p: { signer: LocalAccount; hpkePublicKey: Hex; quote: Hex; domain: JobDomain; jobId: bigint; worker: Address; reason: string }): Promise<SignedRefusal> {
  const signature = await p.signer.signMessage({ message: { raw: refusalDigest({ chainId: p.domain.chainId, jobs: p.domain.jobs, jobId: p.jobId, worker: p.worker, reason: p.reason }) } })
  return { reason: p.reason, keeper: p.signer.address, hpkePublicKey: p.hpkePublicKey, quote: p.quote, signature }
}

/**
 * Worker side: the refusal's reason, only if it is a keeper enclave's signed refusal of this job to
 * this worker: the signature recovers to the keeper it names, and that keeper's quote, checked here
 * under this enclave's measured policy, binds its address and HPKE key on this network. Anything
 * else (a bare reason from the host, another job's or worker's refusal, a key with no valid quote)
 * is REFUSAL_UNVERIFIED.
 */
export async function verifyRefusal(p: { refused: unknown; domain: JobDomain; policy: TeePolicy; jobId: bigint; worker: Address }): Promise<string> {
  const bad = (why: string, cause?: unknown) => new W3aError('REFUSAL_UNVERIFIED', `job ${p.jobId}: the keeper refusal the host passed is not verified: ${why}`, cause === undefined ? {} : { cause })
  const r = p.refused as Partial<SignedRefusal> | null
  const isHex = (v: unknown, bytes?: number): v is Hex => typeof v === 'string' && (bytes === undefined ? /^0x([0-9a-fA-F]{2})+$/ : new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`)).test(v)
  if (typeof r !== 'object' || r === null) throw bad('it is not a signed refusal (a bare reason is the host’s word)')
  if (typeof r.reason !== 'string' || r.reason.length === 0 || r.reason.length > 64) throw bad('no reason')
  if (!isHex(r.keeper, 20) || !isHex(r.hpkePublicKey, 32) || !isHex(r.quote) || !isHex(r.signature, 65)) throw bad('keeper, hpkePublicKey, quote or signature missing or malformed')
  let signer: Address
  try {
    signer = await recoverMessageAddress({ message: { raw: refusalDigest({ chainId: p.domain.chainId, jobs: p.domain.jobs, jobId: p.jobId, worker: p.worker, reason: r.reason }) }, signature: r.signature })
  } catch (e) {
    throw bad('the signature does not recover', e)
  }
  // Over this chain, Jobs contract, job and worker: a refusal for anything else recovers to another address.
  if (signer.toLowerCase() !== r.keeper.toLowerCase()) throw bad(`not signed by ${r.keeper} for this job and worker`)
  try {
    await verifyWorkerQuote(hexToBytes(r.quote), p.policy, { worker: r.keeper, hpkePublicKey: hexToBytes(r.hpkePublicKey), chainId: p.domain.chainId, registry: p.domain.registry })
  } catch (e) {
    throw bad(`the keeper's quote was not accepted (${e instanceof W3aError ? e.code : 'invalid'})`, e)
  }
  return r.reason
}

/**
 * Keeper side. `analysisSeed(epoch)` gives the analysis-key seed of an epoch the keeper still
 * holds (a copy). `releasedTo` is this keeper's own record of the workers it released the job to
 * before (job-releases.ts): the job view and worker facts are the host's word, that record is not.
 *
 * `confirmations` are other keepers' signed confirmations of the charge (charge-confirmation.ts),
 * fetched by the host over `challenge` (this enclave's own, one use; none: only `self` counts):
 * with `self`, they must make a strict majority of this state's keeper set, all over the digest
 * this enclave computes from its own state, or the release waits
 * (`quorum-not-reached`, a retry: the other keepers may not have read the job's block yet).
 *
 * Refusal reasons: job-not-open, not-assigned-worker, released-to-other-workers,
 * worker-not-eligible, measurement-not-allowed, worker-not-attested, then the charge's
 * (checkJobRelease: not-charged, job-mismatch, dataset-deleted, a refused charge's reason), then
 * quorum-not-reached, analysis-epoch-expired, bad-analysis.
 */
export async function releaseJob(p: {
  state: CustodyState
  domain: JobDomain
  policy: TeePolicy
  job: JobView
  worker: WorkerOnChain
  quote: Uint8Array
  sealedAnalysis: Uint8Array
  analysisSeed: (epoch: bigint) => Uint8Array | undefined
  releasedTo: readonly Address[]
  /** This keeper's worker address (it counts as one confirmation if it is in the keeper set). */
  self: Address
  confirmations: unknown
  challenge: Hex | undefined
}): Promise<ReleaseOutcome> {
  const { job } = p
  const refuse = (reason: string, retry = false): ReleaseOutcome => ({ ok: false, reason, retry })
  if (job.status !== 'open') return refuse('job-not-open')
  if (job.worker.toLowerCase() !== p.worker.address.toLowerCase()) return refuse('not-assigned-worker')
  const worker = p.worker.address.toLowerCase() as Address
  if (!p.releasedTo.some((w) => w.toLowerCase() === worker) && p.releasedTo.length >= MAX_JOB_WORKERS) return refuse('released-to-other-workers')
  if (!p.worker.isCompute || !p.worker.eligible) return refuse('worker-not-eligible')
  if (!p.worker.measurementAllowed) return refuse('measurement-not-allowed')
  try {
    await verifyWorkerQuote(p.quote, p.policy, {
      worker: p.worker.address,
      hpkePublicKey: hexToBytes(p.worker.hpkePublicKey),
      chainId: p.domain.chainId,
      registry: p.domain.registry,
      ...(p.worker.registeredAt === undefined ? {} : { registeredAt: p.worker.registeredAt }),
    })
  } catch (e) {
    // The enclave's own allow-list (its config), checked on the quote itself, not on the host's flag.
    return refuse(isW3aError(e, 'MEASUREMENT_NOT_ALLOWED') ? 'measurement-not-allowed' : 'worker-not-attested')
  }
  const decision = checkJobRelease(p.state, {
    jobId: job.id,
    analyst: job.analyst,
    datasetId: job.datasetId,
    analysisHash: job.analysisHash,
    privacyParamsHash: job.privacyParamsHash,
    epsilonMicros: job.epsilonMicros,
  })
  // Not charged yet: this keeper has not read the block the job was mined in.
  if (!decision.ok) return refuse(decision.reason, decision.reason === 'not-charged')
  let confirmed: boolean
  try {
    confirmed = await quorumConfirms(p.state, p.domain, job.id, p.worker.address, p.self, p.challenge === undefined ? [] : p.confirmations, p.challenge ?? ZERO_HASH)
  } catch (e) {
    decision.dek.fill(0)
    throw e
  }
  if (!confirmed) {
    decision.dek.fill(0)
    return refuse('quorum-not-reached', true)
  }

  let analysis: Awaited<ReturnType<typeof openAnalysis>>
  let noiseSeed: Uint8Array
  try {
    const seed = p.analysisSeed(sealedAnalysisEpoch(p.sealedAnalysis))
    if (!seed) return refuse('analysis-epoch-expired')
    const pair = await analysisKeyPair(seed)
    noiseSeed = jobNoiseSeed(seed, { chainId: p.domain.chainId, jobs: p.domain.jobs, jobId: job.id })
    seed.fill(0)
    try {
      analysis = await openAnalysis({ chainId: p.domain.chainId, jobs: p.domain.jobs, analysisPrivateKey: pair.privateKey, blob: p.sealedAnalysis })
    } finally {
      pair.privateKey.fill(0)
    }
  } catch {
    decision.dek.fill(0)
    return refuse('bad-analysis')
  }
  if (
    analysisHash(analysis.request) !== job.analysisHash.toLowerCase() ||
    privacyParamsHash(analysis.privacy) !== job.privacyParamsHash.toLowerCase() ||
    epsilonMicros(analysis.privacy) !== job.epsilonMicros
  ) {
    decision.dek.fill(0)
    noiseSeed.fill(0)
    return refuse('bad-analysis')
  }
  const release: JobRelease = {
    jobId: job.id,
    datasetId: job.datasetId,
    manifestCid: decision.manifestCid,
    dek: decision.dek,
    policy: decision.policy,
    analysis,
    epsilonLeft: decision.epsilonLeft,
    analystEpsilonLeft: decision.analystEpsilonLeft,
    noiseSeed,
  }
  try {
    const sealed = await sealJobRelease({ ...p.domain, jobId: job.id, worker: p.worker.address, workerHpkeKey: hexToBytes(p.worker.hpkePublicKey), release })
    return { ok: true, sealed }
  } finally {
    decision.dek.fill(0)
    noiseSeed.fill(0)
  }
}

/** Did a strict majority of the keeper set (this keeper included) apply the same charge, with the job open and assigned to `worker` as their hosts read it? */
async function quorumConfirms(state: CustodyState, domain: JobDomain, jobId: bigint, worker: Address, self: Address, confirmations: unknown, challenge: Hex): Promise<boolean> {
  const of = chargeDigestOf(state, domain, jobId, worker, challenge)
  return of.ok && (await chargeQuorum(state, { digest: of.digest, self, confirmations })).ok
}

/** What the worker posts on chain for a job (the call is built by the enclave from this). */
export type JobTx = { kind: 'submitResult'; jobId: bigint; outputHash: Hex; signature: Hex } | { kind: 'submitFailure'; jobId: bigint; reasonCode: number; reasonHash: Hex; signature: Hex }

export type RunJobOutcome = { envelope: ResultEnvelope; tx: JobTx; stats: { rows: number; fetchMs: number; queryMs: number } }

/** Which public failure a keeper's refusal (or a local error) is. */
export function failureOf(reason: string): JobFailureReason {
  switch (reason) {
    case 'budget-exhausted':
    case 'analyst-budget-exhausted':
      return 'budget-exhausted'
    case 'dataset-deleted':
    case 'unknown-dataset':
      return 'dataset-deleted'
    case 'bad-analysis':
    case 'analysis-epoch-expired':
    case 'job-mismatch':
      return 'bad-analysis'
    case 'not-granted':
    case 'grant-expired':
    case 'no-uses-left':
    case 'denied':
    case 'analysis-not-allowed':
    case 'invalid-epsilon':
    case 'epsilon-below-minimum':
    case 'exact-not-allowed':
    case 'exact-queries-exhausted':
    case 'duplicate-job':
      return 'access-denied'
    default:
      return 'internal'
  }
}

/**
 * A failure report for a job, signed with the worker key over the Jobs contract's failure digest.
 * Its `detail` (a checker message, say) is sealed to the analyst, never public.
 */
export async function signedFailure(p: { domain: JobDomain; signer: LocalAccount; job: JobView; reason: JobFailureReason; detail?: { resultKey: Hex; message: string } }): Promise<RunJobOutcome> {
  const { job, domain } = p
  const report: FailureReport = { v: 1, jobId: job.id.toString(), reasonCode: JOB_FAILURE_CODES[p.reason], reason: p.reason }
  if (p.detail) {
    const aad = { chainId: domain.chainId, jobs: domain.jobs, jobId: job.id, worker: p.signer.address }
    const sealed = await sealToAnalyst({ ...aad, resultKey: p.detail.resultKey }, new TextEncoder().encode(p.detail.message))
    report.detail = { enc: bytesToHex(sealed.enc), ciphertext: bytesToHex(sealed.ciphertext) }
  }
  const reasonHash = failureReasonHash(report)
  const signature = await signFailure(p.signer, {
    chainId: domain.chainId,
    jobs: domain.jobs,
    jobId: job.id,
    inputCidsHash: job.inputCidsHash,
    analysisHash: job.analysisHash,
    privacyParamsHash: job.privacyParamsHash,
    reasonCode: report.reasonCode,
    reasonHash,
  })
  return {
    envelope: { v: 1, chainId: domain.chainId, jobs: domain.jobs.toLowerCase() as Address, jobId: job.id.toString(), worker: p.signer.address.toLowerCase() as Address, status: 'failed', report, reasonHash, signature },
    tx: { kind: 'submitFailure', jobId: job.id, reasonCode: report.reasonCode, reasonHash, signature },
    stats: { rows: 0, fetchMs: 0, queryMs: 0 },
  }
}

/**
 * Worker side: `release` is the keeper's sealed answer, or its signed refusal (verifyRefusal,
 * under `policy`): a failure is signed only on what this enclave checked itself.
 */
export async function runJob(p: {
  domain: JobDomain
  policy: TeePolicy
  signer: LocalAccount
  hpkePrivateKey: Uint8Array
  job: JobView
  release: { sealed: { enc: Hex; ciphertext: Hex } } | { refused: unknown }
  gatewayUrl: string
  /** Decrypted segments kept between jobs (job-data.ts); without it each job decrypts its own. */
  cache?: JobDataCache
  now?: () => number
}): Promise<RunJobOutcome> {
  const { job, domain } = p
  const me = p.signer.address
  const aad = { chainId: domain.chainId, jobs: domain.jobs, jobId: job.id, worker: me }
  const base = { v: 1 as const, chainId: domain.chainId, jobs: domain.jobs.toLowerCase() as Address, jobId: job.id.toString(), worker: me.toLowerCase() as Address }
  const digestFields = { chainId: domain.chainId, jobs: domain.jobs, jobId: job.id, inputCidsHash: job.inputCidsHash, analysisHash: job.analysisHash, privacyParamsHash: job.privacyParamsHash }

  const fail = (reason: JobFailureReason, detail?: { resultKey: Hex; message: string }): Promise<RunJobOutcome> =>
    signedFailure({ domain, signer: p.signer, job, reason, ...(detail ? { detail } : {}) })

  if ('refused' in p.release) {
    const reason = await verifyRefusal({ refused: p.release.refused, domain, policy: p.policy, jobId: job.id, worker: me })
    // A keeper enclave says the dataset is gone: its plaintext goes from this worker's memory now.
    if (failureOf(reason) === 'dataset-deleted') await p.cache?.dropDataset(job.datasetId)
    return fail(failureOf(reason))
  }
  let release: JobRelease
  try {
    release = await openJobRelease({ ...domain, jobId: job.id, worker: me, workerPrivateKey: p.hpkePrivateKey, sealed: p.release.sealed })
  } catch (cause) {
    // Only the host can make a keeper's release unopenable here (it is sealed to this worker's
    // key for this job): no failure is signed on that.
    throw new W3aError('HPKE_OPEN_FAILED', `job ${job.id}: the release does not open for this worker; nothing signed`, { cause })
  }
  let data: JobData | undefined
  let resultKey: Hex | undefined
  try {
    const request = parseAnalysisRequest(release.analysis.request)
    resultKey = request.resultKey
    const privacy = parsePrivacyParams(release.analysis.privacy)
    // What the worker signs as input must be what it read: the manifest custody holds.
    if (inputCidsHashFor(release.manifestCid) !== job.inputCidsHash.toLowerCase()) {
      return await fail('data-unavailable', { resultKey: request.resultKey, message: 'the dataset manifest changed after the job was submitted' })
    }
    const t0 = performance.now()
    const manifestCid = CID.parse(release.manifestCid)
    const manifestBytes = await fetchBytes(`${p.gatewayUrl}/ipfs/${manifestCid}?format=raw`)
    await verifyBlock(manifestCid, manifestBytes)
    const manifest = decodeManifest(manifestBytes)
    if (manifest.datasetId.toLowerCase() !== job.datasetId.toLowerCase()) throw new W3aError('MANIFEST_MALFORMED', 'the manifest is for another dataset')
    const opened = {
      manifestCid: release.manifestCid,
      manifest,
      dek: release.dek,
      fetchCar: async (cid: CID) => {
        const res = await fetch(`${p.gatewayUrl}/ipfs/${cid}?format=car`, { headers: { accept: 'application/vnd.ipld.car' } })
        if (!res.ok || !res.body) throw new W3aError('BLOCK_NOT_FOUND', `storage answered ${res.status} for segment ${cid}`)
        return res.body as unknown as AsyncIterable<Uint8Array>
      },
    }
    // The cache is consulted only here, after this job's own key release opened.
    data = await (p.cache ? p.cache.open(opened) : openJobData(opened))
    const t1 = performance.now()
    const result = await runSqlAnalysis({
      segmentFiles: data.files,
      schema: manifest.schema.columns,
      privacyUnit: manifest.privacyUnit,
      policy: release.policy,
      sql: request.sql,
      epsilon: privacy.epsilon,
      ...(privacy.bounds ? { bounds: privacy.bounds } : {}),
      ...(privacy.contribution ? { contribution: privacy.contribution } : {}),
      noiseSeed: release.noiseSeed,
    })
    const t2 = performance.now()
    // ε was charged by custody before the release; report what it says is left.
    const output = { columns: result.columns, rows: result.rows, privacy: { ...result.privacy, epsilonLeft: release.epsilonLeft, analystEpsilonLeft: release.analystEpsilonLeft } }
    const hash = outputHash(output)
    const sealed = await sealToAnalyst({ ...aad, resultKey: request.resultKey }, new TextEncoder().encode(canonicalOutput(output)))
    const signature = await signResult(p.signer, { ...digestFields, outputHash: hash })
    return {
      envelope: { ...base, status: 'completed', outputHash: hash, output: { enc: bytesToHex(sealed.enc), ciphertext: bytesToHex(sealed.ciphertext) }, signature },
      tx: { kind: 'submitResult', jobId: job.id, outputHash: hash, signature },
      stats: { rows: manifest.rows, fetchMs: t1 - t0, queryMs: t2 - t1 },
    }
  } catch (e) {
    const reason = failureOfError(e)
    if (resultKey === undefined) return await fail('bad-analysis')
    return await fail(reason, { resultKey, message: failureDetail(reason, e) })
  } finally {
    release.dek.fill(0)
    release.noiseSeed.fill(0)
    await data?.release()
  }
}

export async function fetchBytes(url: string): Promise<Uint8Array> {
  let res: Response
  try {
    res = await fetch(url)
  } catch (cause) {
    throw new W3aError('GATEWAY_UNREACHABLE', `cannot reach storage at ${new URL(url).origin}`, { cause })
  }
  if (!res.ok) throw new W3aError('BLOCK_NOT_FOUND', `storage answered ${res.status} for ${new URL(url).pathname}`)
  return new Uint8Array(await res.arrayBuffer())
}
