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
 *   Jobs contract checks. A failure the enclave reaches itself (or a refusal a strict majority of
 *   the keeper set signed, each vote verified here: refusal-quorum.ts) becomes a signed failure report that says why, never with data; a
 *   refusal on the host's word alone is REFUSAL_UNVERIFIED and nothing is signed.
 *
 * Everything here runs inside the enclave process; the host only relays chain reads and bytes.
 */
import { bytesToHex, hexToBytes, type Address, type Hex, type LocalAccount } from 'viem'
import { CID } from 'multiformats/cid'
import type { JobView } from './job-view.js'
import { MAX_JOB_WORKERS } from './job-releases.js'
import { W3aError, isW3aError } from '../core/errors.js'
import { inputCidsHashFor, royaltyRoot, signFailure, signPoolResult, signResult, type ContributorWeight } from '../chain/index.js'
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
  runFunctionAnalysis,
  functionHash,
  JOB_FAILURE_CODES,
  failureDetail,
  failureOfError,
  type FailureReport,
  type JobFailureReason,
  type ResultEnvelope,
} from '../analysis/index.js'
import { ZERO_HASH, analysisDenial, analysisKeyPair, chargeDigestOf, chargeQuorum, checkJobRelease, jobNoiseSeed, newChargeChallenge, openJobRelease, sealJobRelease, type CustodyState, type JobRelease } from '../custody/index.js'
import { assembleRefusalQuorum, signRefusalVote, verifyRefusalQuorum, type RefusalQuorum } from './refusal-quorum.js'
import { decodeManifest, verifyBlock, POOL_UNIT_COLUMN } from '../storage/index.js'
import { openPoolData } from './pool-data.js'
import { openJobData, type JobData, type JobDataCache } from './job-data.js'
import { carFetcher } from './car-fetch.js'
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

/** A refusal to be retried (`retry`) is not final and carries no statement; a final one carries the keepers' refusal quorum (refusal-quorum.ts). */
export type ReleaseOutcome = { ok: true; sealed: { enc: Hex; ciphertext: Hex } } | { ok: false; reason: string; retry: boolean; refusal?: RefusalQuorum }

/** Refusals that are no failure of the job: it is not open, or not this worker's (the worker has nothing to sign; its host drops the job). */
const NOT_A_FAILURE = new Set(['job-not-open', 'not-assigned-worker'])

/** What a keeper's own checks say of a release: everything but the quorums. */
export type ReleaseJudgement =
  | { release: true; decision: Extract<ReturnType<typeof checkJobRelease>, { ok: true }>; analysis: Awaited<ReturnType<typeof openAnalysis>>; noiseSeed: Uint8Array }
  | { release: false; reason: string; retry: boolean }

/** Zeroes the key material a positive judgement holds (a peer that only votes, or a release that waits). */
export function wipeJudgement(j: ReleaseJudgement): void {
  if (!j.release) return
  wipeDecision(j.decision)
  j.noiseSeed.fill(0)
}

/** Zeroes the keys a release decision holds (the dataset's, or a pool's contributions'). */
function wipeDecision(d: { dek: Uint8Array; contributions?: { dek: Uint8Array }[] }): void {
  d.dek.fill(0)
  for (const c of d.contributions ?? []) c.dek.fill(0)
}

/** Is this refusal final and a failure the worker may sign (given a quorum)? */
export function isFailureRefusal(j: { reason: string; retry: boolean }): boolean {
  return !j.retry && !NOT_A_FAILURE.has(j.reason)
}

export type JudgeParameters = {
  state: CustodyState
  domain: JobDomain
  policy: TeePolicy
  job: JobView
  worker: WorkerOnChain
  quote: Uint8Array
  sealedAnalysis: Uint8Array
  analysisSeed: (epoch: bigint) => Uint8Array | undefined
  releasedTo: readonly Address[]
}

/**
 * One keeper's checks of a release, from its own state and its host's inputs. `analysisSeed(epoch)`
 * gives the analysis-key seed of an epoch the keeper still holds (a copy). `releasedTo` is this
 * keeper's own record of the workers it released the job to before (job-releases.ts).
 *
 * Refusal reasons, in order: job-not-open, not-assigned-worker, released-to-other-workers,
 * worker-not-eligible, measurement-not-allowed, worker-not-attested, then the charge's
 * (checkJobRelease: not-charged (a retry), job-mismatch, dataset-deleted, a refused charge's
 * reason), then analysis-epoch-expired, bad-analysis.
 */
export async function judgeRelease(p: JudgeParameters): Promise<ReleaseJudgement> {
  const { job } = p
  const refuse = (reason: string, retry = false): ReleaseJudgement => ({ release: false, reason, retry })
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
    analysisKind: job.analysisKind ?? 'sql',
    functionHash: job.functionHash ?? ZERO_HASH,
    purpose: job.purpose ?? '',
  })
  // Not charged yet: this keeper has not read the block the job was mined in.
  if (!decision.ok) return refuse(decision.reason, decision.reason === 'not-charged')
  let analysis: Awaited<ReturnType<typeof openAnalysis>>
  let noiseSeed: Uint8Array
  try {
    const seed = p.analysisSeed(sealedAnalysisEpoch(p.sealedAnalysis))
    if (!seed) {
      wipeDecision(decision)
      return refuse('analysis-epoch-expired')
    }
    const pair = await analysisKeyPair(seed)
    noiseSeed = jobNoiseSeed(seed, { chainId: p.domain.chainId, jobs: p.domain.jobs, jobId: job.id })
    seed.fill(0)
    try {
      analysis = await openAnalysis({ chainId: p.domain.chainId, jobs: p.domain.jobs, analysisPrivateKey: pair.privateKey, blob: p.sealedAnalysis })
    } finally {
      pair.privateKey.fill(0)
    }
  } catch {
    wipeDecision(decision)
    return refuse('bad-analysis')
  }
  if (
    analysisHash(analysis.request) !== job.analysisHash.toLowerCase() ||
    privacyParamsHash(analysis.privacy) !== job.privacyParamsHash.toLowerCase() ||
    epsilonMicros(analysis.privacy) !== job.epsilonMicros
  ) {
    wipeDecision(decision)
    noiseSeed.fill(0)
    return refuse('bad-analysis')
  }
  // The charge could not see the analysis (it is sealed): its kind, and a function's hash, are checked here.
  const request = analysis.request
  // What the job declared in clear (and custody charged on) must be what was sealed.
  const declared = decision.declared
  if (declared && (request.kind !== declared.analysisKind || (request.kind === 'function' ? functionHash(request.source) : ZERO_HASH) !== declared.functionHash.toLowerCase())) {
    wipeDecision(decision)
    noiseSeed.fill(0)
    return refuse('bad-analysis')
  }
  const denial = analysisDenial(decision.policy, request.kind === 'function' ? { kind: 'function', functionHash: functionHash(request.source) } : { kind: 'sql' })
  if (denial) {
    wipeDecision(decision)
    noiseSeed.fill(0)
    return refuse(denial)
  }
  return { release: true, decision, analysis, noiseSeed }
}

/** A keeper's own vote material: its worker key, and the HPKE key and quote that bind it. */
export type Voter = { signer: LocalAccount; hpkePublicKey: Hex; quote: Hex }

/**
 * Keeper side. After this keeper's own checks (judgeRelease):
 *
 * - a release needs `confirmations`, other keepers' signed confirmations of the charge
 *   (charge-confirmation.ts) over `challenge` (this enclave's own, one use; none: only `self`
 *   counts): with `self`, a strict majority of this state's keeper set, over the digest this
 *   enclave computes from its own state and `epoch`, or the release waits (`quorum-not-reached`,
 *   a retry: the other keepers may not have read the job's block yet);
 * - a final refusal needs `votes`, other keepers' refusal votes for the same public failure over
 *   the same challenge (refusal-quorum.ts): with this keeper's own, a strict majority of its set,
 *   or it is only this keeper's view (its reason, as a retry: the worker's host asks another
 *   keeper, or gives the job up as a refund). With a set of one (the devnet) its own vote is the
 *   quorum. `job-not-open` and `not-assigned-worker` are final and carry no statement.
 */
export async function releaseJob(
  p: JudgeParameters & {
    /** This keeper (it counts as one confirmation or vote if it is in the keeper set). */
    self: Voter
    /** This keeper's current epoch: in every digest of the quorums. */
    epoch: bigint
    confirmations: unknown
    votes?: unknown
    challenge: Hex | undefined
    /** False while the keeper's set lacks a keeper it verified in a hand-over (service.ts): it then votes for no refusal. */
    mayRefuse?: boolean
    /** The measured network config's smallest keeper set that may release (network-measurement.ts). */
    minKeepers: number
  },
): Promise<ReleaseOutcome> {
  const { job } = p
  // A set smaller than the network asks for (its host hid the other keepers from it) is no quorum at all.
  if (p.state.keepers.size < p.minKeepers) return { ok: false, reason: 'keeper-set-too-small', retry: true }
  const judged = await judgeRelease(p)
  if (!judged.release) {
    if (!isFailureRefusal(judged) || p.mayRefuse === false) return { ok: false, reason: judged.reason, retry: judged.retry || p.mayRefuse === false }
    const failure = failureOf(judged.reason)
    // Without a challenge of this release no peer vote can count; a fresh one still carries this keeper's own.
    const challenge = p.challenge ?? newChargeChallenge()
    const common = { state: p.state, domain: p.domain, epoch: p.epoch, jobId: job.id, worker: p.worker.address, failure, challenge }
    const own = await signRefusalVote({ ...common, signer: p.self.signer, hpkePublicKey: p.self.hpkePublicKey, quote: p.self.quote })
    const agreed = await assembleRefusalQuorum({ ...common, reason: judged.reason, own, votes: p.challenge === undefined ? [] : p.votes })
    return agreed.ok ? { ok: false, reason: judged.reason, retry: false, refusal: agreed.quorum } : { ok: false, reason: judged.reason, retry: true }
  }
  const { decision, analysis, noiseSeed } = judged
  try {
    const of = chargeDigestOf(p.state, { ...p.domain, epoch: p.epoch }, job.id, p.worker.address, p.challenge ?? ZERO_HASH)
    const confirmed = of.ok && (await chargeQuorum(p.state, { digest: of.digest, self: p.self.signer.address, confirmations: p.challenge === undefined ? [] : p.confirmations })).ok
    if (!confirmed) return { ok: false, reason: 'quorum-not-reached', retry: true }
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
      ...(decision.contributions ? { contributions: decision.contributions.map(({ datasetId, owner, manifestCid, dek }) => ({ datasetId, owner, manifestCid, dek })) } : {}),
    }
    const sealed = await sealJobRelease({ ...p.domain, jobId: job.id, worker: p.worker.address, workerHpkeKey: hexToBytes(p.worker.hpkePublicKey), release })
    return { ok: true, sealed }
  } finally {
    wipeJudgement(judged)
  }
}

/** What the worker posts on chain for a job (the call is built by the enclave from this). */
/** `royalty`: a pool job's (Jobs.submitPoolResult); totalWeight as a decimal string (the tx is kept as JSON). */
export type JobTx = { kind: 'submitResult'; jobId: bigint; outputHash: Hex; signature: Hex; royalty?: { weightsRoot: Hex; totalWeight: string } } | { kind: 'submitFailure'; jobId: bigint; reasonCode: number; reasonHash: Hex; signature: Hex }

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
    case 'invalid-epsilon':
    case 'epsilon-below-minimum':
    case 'exact-not-allowed':
    case 'exact-queries-exhausted':
    case 'duplicate-job':
      return 'access-denied'
    case 'analysis-not-allowed':
    case 'function-not-allowed':
      return 'analysis-not-allowed'
    case 'no-contributions':
      return 'data-unavailable'
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
 * Worker side: `release` is the keeper's sealed answer, or the keepers' refusal quorum
 * (verifyRefusalQuorum, under `policy`): a failure is signed only on what this enclave checked itself.
 */
export async function runJob(p: {
  domain: JobDomain
  policy: TeePolicy
  signer: LocalAccount
  hpkePrivateKey: Uint8Array
  job: JobView
  release: { sealed: { enc: Hex; ciphertext: Hex } } | { refused: unknown }
  /** The measured network config's smallest keeper set (a refusal quorum must name at least that many). */
  minKeepers: number
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
    const failure = await verifyRefusalQuorum({ refused: p.release.refused, domain, policy: p.policy, minKeepers: p.minKeepers, jobId: job.id, worker: me, ...(p.now ? { now: Math.floor(p.now() / 1000) } : {}) })
    // A majority of keepers say the dataset is gone: its plaintext goes from this worker's memory now.
    if (failure === 'dataset-deleted') await p.cache?.dropDataset(job.datasetId)
    return fail(failure)
  }
  let release: JobRelease
  try {
    release = await openJobRelease({ ...domain, jobId: job.id, worker: me, workerPrivateKey: p.hpkePrivateKey, sealed: p.release.sealed })
  } catch (cause) {
    // Only the host can make a keeper's release unopenable here (it is sealed to this worker's
    // key for this job): no failure is signed on that.
    throw new W3aError('HPKE_OPEN_FAILED', `job ${job.id}: the release does not open for this worker; nothing signed`, { cause })
  }
  let data: Pick<JobData, 'files' | 'release'> | undefined
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
    let input: { schema: { name: string; type: string }[]; privacyUnit: string | null; rows: number; weights?: ContributorWeight[] }
    if (release.contributions) {
      // A pool: each contribution under its own key, the contributor as each row's unit (pool-data.ts).
      const pool = await openPoolData({ poolId: job.datasetId, release: { manifestCid: release.manifestCid, contributions: release.contributions }, fetchBytes, gatewayUrl: p.gatewayUrl })
      data = pool
      if (pool.files.length === 0) return await fail('data-unavailable', { resultKey: request.resultKey, message: 'none of the pool contributions released to this job could be read' })
      input = { schema: pool.schema, privacyUnit: POOL_UNIT_COLUMN, rows: pool.rows, weights: pool.weights }
    } else {
      const manifestCid = CID.parse(release.manifestCid)
      const manifestBytes = await fetchBytes(`${p.gatewayUrl}/ipfs/${manifestCid}?format=raw`)
      await verifyBlock(manifestCid, manifestBytes)
      const manifest = decodeManifest(manifestBytes)
      if (manifest.datasetId.toLowerCase() !== job.datasetId.toLowerCase()) throw new W3aError('MANIFEST_MALFORMED', 'the manifest is for another dataset')
      const opened = {
        manifestCid: release.manifestCid,
        manifest,
        dek: release.dek,
        fetchCar: carFetcher(p.gatewayUrl),
      }
      // The cache is consulted only here, after this job's own key release opened.
      data = await (p.cache ? p.cache.open(opened) : openJobData(opened))
      input = { schema: manifest.schema.columns, privacyUnit: manifest.privacyUnit, rows: manifest.rows }
    }
    const t1 = performance.now()
    const common = {
      segmentFiles: data.files,
      schema: input.schema,
      privacyUnit: input.privacyUnit,
      policy: release.policy,
      epsilon: privacy.epsilon,
      ...(privacy.contribution ? { contribution: privacy.contribution } : {}),
      noiseSeed: release.noiseSeed,
    }
    // A function job re-checks the policy's terms on functions itself (runFunctionAnalysis): the keeper's check is not the only one.
    const result =
      request.kind === 'function'
        ? await runFunctionAnalysis({ ...common, fn: request })
        : await runSqlAnalysis({ ...common, sql: request.sql, ...(privacy.bounds ? { bounds: privacy.bounds } : {}) })
    const t2 = performance.now()
    // ε was charged by custody before the release; report what it says is left.
    const output = { columns: result.columns, rows: result.rows, privacy: { ...result.privacy, epsilonLeft: release.epsilonLeft, analystEpsilonLeft: release.analystEpsilonLeft } }
    const hash = outputHash(output)
    const sealed = await sealToAnalyst({ ...aad, resultKey: request.resultKey }, new TextEncoder().encode(canonicalOutput(output)))
    const output_ = { enc: bytesToHex(sealed.enc), ciphertext: bytesToHex(sealed.ciphertext) }
    const stats = { rows: input.rows, fetchMs: t1 - t0, queryMs: t2 - t1 }
    if (input.weights) {
      // The owners' share of a pool job goes to the contributors by these weights (royalty-tree.ts).
      const { root, totalWeight } = royaltyRoot(input.weights)
      const signature = await signPoolResult(p.signer, { ...digestFields, outputHash: hash, weightsRoot: root, totalWeight })
      const royalties = { weightsRoot: root, totalWeight: totalWeight.toString(), weights: input.weights.map((w) => ({ contributor: w.contributor.toLowerCase() as Hex, weight: w.weight.toString() })) }
      return {
        envelope: { ...base, status: 'completed', outputHash: hash, output: output_, signature, royalties },
        tx: { kind: 'submitResult', jobId: job.id, outputHash: hash, signature, royalty: { weightsRoot: root, totalWeight: totalWeight.toString() } },
        stats,
      }
    }
    const signature = await signResult(p.signer, { ...digestFields, outputHash: hash })
    return {
      envelope: { ...base, status: 'completed', outputHash: hash, output: output_, signature },
      tx: { kind: 'submitResult', jobId: job.id, outputHash: hash, signature },
      stats,
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

/** A segment's CAR from storage (untrusted: loadSegments checks every block against its CID). */
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
