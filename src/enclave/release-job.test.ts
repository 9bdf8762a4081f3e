/**
 * Every refusal of the keeper's key release (`releaseJob`), one case each, on real inputs: a
 * custody state replayed from real sealed owner commands and a Jobs-contract charge entry
 * (custody/apply.ts through the custody fixture), an analysis sealed to the epoch's analysis
 * key (analysis-request.ts), and a worker attested by the sim TEE backend. Every refusal must
 * be exactly `{ ok: false, reason, retry }`: nothing sealed, so no dataset key comes out.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { bytesToHex, encodeAbiParameters, hexToBytes, type Address, type Hex, type LocalAccount } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { analysisHash, epsilonMicros, functionHash, privacyParamsHash, sealAnalysis, type AnalysisRequest, type PrivacyParams } from '../analysis/index.js'
import { inputCidsHashFor } from '../chain/index.js'
import { CHAIN_ID, JOBS, Replica, TestInbox, registerCommand, signCommand, testBytes } from '../custody/fixture.test.js'
import { analysisKeyPair, confirmCharge, encodeJobCharge, openJobRelease, parsePolicy, policyHash, withGenesisKeeper, type CustodyState } from '../custody/index.js'
import { DEV_ATTESTATION_SIGNER, attestIdentity, createEnclaveIdentity, createSimEnclave, type EnclaveIdentity, type TeePolicy } from '../tee/index.js'
import type { JobView } from './job-view.js'
import { MAX_JOB_WORKERS } from './job-releases.js'
import { failureOf, releaseJob, type JobDomain, type ReleaseOutcome, type WorkerOnChain } from './jobs.js'

const REGISTRY: Address = '0x00000000000000000000000000000000000000cc'
const DOMAIN: JobDomain = { chainId: CHAIN_ID, jobs: JOBS, registry: REGISTRY }
const MEASUREMENT: Hex = `0x${'5a'.repeat(32)}`
const OTHER_MEASUREMENT: Hex = `0x${'a5'.repeat(32)}`
const POLICY: TeePolicy = { allowSim: true, devAttestationSigner: DEV_ATTESTATION_SIGNER, allowedMeasurements: [MEASUREMENT] }

const owner = privateKeyToAccount(bytesToHex(testBytes('release/owner')))
const analyst = privateKeyToAccount(bytesToHex(testBytes('release/analyst')))
const DEK = testBytes('release/dek')
const MANIFEST_CID = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'

const defaultRequest: AnalysisRequest = { v: 1, kind: 'sql', sql: 'SELECT region, COUNT(*) FROM t GROUP BY region', resultKey: bytesToHex(testBytes('release/result-key')) }
const privacy: PrivacyParams = { epsilon: 0.5 }

type Worker = { identity: EnclaveIdentity; quote: Uint8Array; onChain: WorkerOnChain }

let dir: string
/** An attested worker (sim quote with the allowed measurement, binding its own keys). */
async function attestedWorker(label: string, opts: { measurement?: Hex; attestationPrivateKey?: Hex } = {}): Promise<Worker> {
  const identity = await createEnclaveIdentity()
  const backend = createSimEnclave({ measurement: opts.measurement ?? MEASUREMENT, platformSecretFile: join(dir, `${label}.key`), ...(opts.attestationPrivateKey ? { attestationPrivateKey: opts.attestationPrivateKey } : {}) })
  const { quote } = await attestIdentity({ backend, identity, chainId: CHAIN_ID, registry: REGISTRY })
  return { identity, quote, onChain: { address: identity.signer.address, hpkePublicKey: bytesToHex(identity.hpke.publicKey), isCompute: true, eligible: true, measurementAllowed: true } }
}

/** The Jobs contract's charge entry (contracts/Jobs.sol `_postCharge`). */
function chargePayload(c: { jobId: bigint; analyst: Address; datasetId: Hex; analysisHash: Hex; privacyParamsHash: Hex; epsilonMicros: bigint; analysisKind?: 'sql' | 'function'; functionHash?: Hex }): Uint8Array {
  return encodeJobCharge({ ...c, admitted: false })
}

/**
 * A keeper that replayed: RegisterDataset (with its DEK), Grant to the analyst, SetPolicy (ε
 * budget 1), and the charges of jobs 1..3 (ε 0.5 each, so job 3 is refused for budget).
 */
async function keeper(o: { request?: AnalysisRequest; policy?: Parameters<typeof parsePolicy>[0]; declared?: { analysisKind: 'sql' | 'function'; functionHash?: Hex }; chargeRefused?: string } = {}) {
  const request = o.request ?? defaultRequest
  const inbox = new TestInbox(testBytes('release/secret'))
  const replica = Replica.fromSecret(testBytes('release/secret'))
  const exp = inbox.timestamp() + 100_000n
  const r = registerCommand(owner.address, { salt: bytesToHex(testBytes('release/salt')), dek: DEK, nonce: 1n, expiry: exp, manifestCid: MANIFEST_CID })
  const policy = parsePolicy(o.policy ?? { epsilonBudget: 1 })
  const apply = async (entry: Promise<ReturnType<TestInbox['postRaw']>> | ReturnType<TestInbox['postRaw']>) => replica.apply(await entry)
  assert.equal((await apply(inbox.post(await signCommand(owner, r.command), { dek: DEK }))).status, 'applied')
  assert.equal((await apply(inbox.post(await signCommand(owner, { type: 'Grant', message: { datasetId: r.datasetId, grantee: analyst.address, expiresAt: 0n, uses: 0, nonce: 2n, expiry: exp } })))).status, 'applied')
  assert.equal((await apply(inbox.post(await signCommand(owner, { type: 'SetPolicy', message: { datasetId: r.datasetId, policyHash: policyHash(policy), nonce: 3n, expiry: exp } }), { policy }))).status, 'applied')
  // What the job declares in clear (Jobs.submitJob): by default what was sealed.
  const declared = o.declared ?? (request.kind === 'function' ? { analysisKind: 'function' as const, functionHash: functionHash(request.source) } : { analysisKind: 'sql' as const })
  const committed = { analyst: analyst.address, datasetId: r.datasetId, analysisHash: analysisHash(request), privacyParamsHash: privacyParamsHash(privacy), epsilonMicros: epsilonMicros(privacy), ...declared }
  const charge = (jobId: bigint) => apply(inbox.postRaw(chargePayload({ jobId, ...committed }), 0n, JOBS))
  const first = await charge(1n)
  if (o.chargeRefused) assert.equal(first.reason, o.chargeRefused)
  else {
    assert.equal(first.status, 'applied')
    assert.equal((await charge(2n)).status, 'applied')
    assert.equal((await charge(3n)).reason, 'budget-exhausted')
  }
  const seed = () => replica.keyring.analysisSeed()
  const pair = await analysisKeyPair(seed())
  const sealed = (req: AnalysisRequest = request, priv: PrivacyParams = privacy) =>
    sealAnalysis({ ...DOMAIN, analysisPublicKey: pair.publicKey, epoch: replica.keyring.epoch, request: req, privacy: priv })
  const deleteDataset = async () =>
    assert.equal((await apply(inbox.post(await signCommand(owner, { type: 'Delete', message: { datasetId: r.datasetId, nonce: 4n, expiry: exp } })))).status, 'applied')
  return { replica, committed, datasetId: r.datasetId, sealed, seed, deleteDataset, epoch: replica.keyring.epoch }
}

let k: Awaited<ReturnType<typeof keeper>>
let worker: Worker
let sealedAnalysis: Uint8Array

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'w3a-release-job-'))
  k = await keeper()
  worker = await attestedWorker('worker')
  sealedAnalysis = await k.sealed()
})
after(() => rm(dir, { recursive: true, force: true }))

function jobOf(jobId: bigint, w: Worker, over: Partial<JobView> = {}): JobView {
  return { id: jobId, status: 'open', worker: w.onChain.address, inputCidsHash: inputCidsHashFor(MANIFEST_CID), ...k.committed, ...over }
}

type Call = {
  state?: CustodyState
  job?: JobView
  worker?: Worker
  onChain?: Partial<WorkerOnChain>
  quote?: Uint8Array
  sealedAnalysis?: Uint8Array
  releasedTo?: Address[]
  policy?: TeePolicy
  /** Other keeper-set members besides this keeper (default none: a set of one, as on the devnet). */
  peers?: LocalAccount[]
  confirmations?: unknown
  /** The measured network config's smallest keeper set (default 1, a dev network). */
  minKeepers?: number
}

/** The releasing keeper's challenge for the release (the enclave makes a fresh one per release). */
const CHALLENGE: Hex = `0x${'c4'.repeat(32)}`
/** Admission time of the test keeper set's members (unix seconds). */
const NOW = BigInt(Math.floor(Date.now() / 1000))
/** The releasing keeper's worker key: the genesis member of its keeper set. */
const self = privateKeyToAccount(bytesToHex(testBytes('release/keeper')))

function release(c: Call = {}): Promise<ReleaseOutcome> {
  const w = c.worker ?? worker
  let state = withGenesisKeeper(c.state ?? k.replica.state, { address: self.address, hpkePublicKey: `0x${'11'.repeat(32)}`, attestedAt: NOW })
  for (const p of c.peers ?? []) state = withGenesisKeeper(state, { address: p.address, hpkePublicKey: `0x${'22'.repeat(32)}`, attestedAt: NOW })
  return releaseJob({
    state,
    self: { signer: self, hpkePublicKey: `0x${'11'.repeat(32)}`, quote: '0x00' },
    epoch: k.epoch,
    confirmations: c.confirmations ?? [],
    challenge: CHALLENGE,
    domain: DOMAIN,
    policy: c.policy ?? POLICY,
    job: c.job ?? jobOf(1n, w),
    worker: { ...w.onChain, ...c.onChain },
    quote: c.quote ?? w.quote,
    sealedAnalysis: c.sealedAnalysis ?? sealedAnalysis,
    analysisSeed: (epoch) => (epoch === k.epoch ? k.seed() : undefined),
    releasedTo: c.releasedTo ?? [],
    minKeepers: c.minKeepers ?? 1,
  })
}

/**
 * Exactly a refusal with this reason: no `sealed` field, so no dataset key leaves the enclave. A
 * final refusal that is a failure carries this keeper's refusal quorum (a set of one: its own vote).
 */
async function refused(c: Call, reason: string, retry = false): Promise<void> {
  const out = await release(c)
  assert.equal('sealed' in out, false)
  assert.deepEqual(out.ok ? out : { ok: out.ok, reason: out.reason, retry: out.retry }, { ok: false, reason, retry })
  const failure = !retry && !['job-not-open', 'not-assigned-worker'].includes(reason) && (c.peers ?? []).length === 0
  assert.equal(out.ok === false && out.refusal !== undefined, failure, `refusal quorum carried: ${failure}`)
  if (failure && !out.ok) assert.deepEqual([out.refusal!.failure, out.refusal!.votes.map((v) => v.keeper)], [failureOf(reason), [self.address]])
}

describe('releaseJob: the keeper enclave releases a dataset key only to the job’s attested worker', () => {
  it('releases to the assigned, attested worker: it opens the release and gets the DEK, the analysis and the noise seed', async () => {
    const out = await release()
    assert.equal(out.ok, true)
    if (!out.ok) return
    const opened = await openJobRelease({ ...DOMAIN, jobId: 1n, worker: worker.onChain.address, workerPrivateKey: worker.identity.hpke.privateKey, sealed: out.sealed })
    assert.deepEqual(opened.dek, DEK)
    assert.equal(opened.manifestCid, MANIFEST_CID)
    assert.equal(opened.datasetId, k.datasetId)
    assert.deepEqual(opened.analysis, { request: defaultRequest, privacy })
    assert.equal(opened.epsilonLeft, 0) // jobs 1 and 2 charged 0.5 each of 1
    assert.equal(opened.noiseSeed.length, 32)
    // Sealed to that worker and job: another worker's key, or another job id, does not open it.
    const other = await attestedWorker('other-opener')
    await assert.rejects(openJobRelease({ ...DOMAIN, jobId: 1n, worker: worker.onChain.address, workerPrivateKey: other.identity.hpke.privateKey, sealed: out.sealed }))
    await assert.rejects(openJobRelease({ ...DOMAIN, jobId: 2n, worker: worker.onChain.address, workerPrivateKey: worker.identity.hpke.privateKey, sealed: out.sealed }))
  })

  it('the declared analysis kind and function hash: a policy that refuses them refuses the charge (nothing spent), and the release too', async () => {
    const source = '(rows) => rows.length'
    const fn: AnalysisRequest = { v: 1, kind: 'function', source, output: { kind: 'number', lo: 0, hi: 10 }, aggregate: 'sum', resultKey: defaultRequest.resultKey }
    const other: Hex = `0x${'ee'.repeat(32)}`
    const cases: [AnalysisRequest, Parameters<typeof parsePolicy>[0], string | undefined][] = [
      [fn, { epsilonBudget: 1 }, 'analysis-not-allowed'],
      [fn, { epsilonBudget: 1, analyses: ['sql', 'function'], functionDeny: [functionHash(source)] }, 'function-not-allowed'],
      [fn, { epsilonBudget: 1, analyses: ['function'], functionAllow: [other] }, 'function-not-allowed'],
      [defaultRequest, { epsilonBudget: 1, analyses: ['function'] }, 'analysis-not-allowed'],
      [fn, { epsilonBudget: 1, analyses: ['function'], functionAllow: [functionHash(source), other] }, undefined],
    ]
    const saved = k
    try {
      for (const [req, policy, reason] of cases) {
        k = await keeper({ request: req, policy, ...(reason ? { chargeRefused: reason } : {}) })
        const sealed = await k.sealed(req)
        if (reason) await refused({ sealedAnalysis: sealed }, reason)
        else assert.equal((await release({ sealedAnalysis: sealed })).ok, true, 'an allowed function is released')
      }
    } finally {
      k = saved
    }
  })

  it('a sealed analysis that is not what the job declared (a function declared as SQL) is bad-analysis', async () => {
    const source = '(rows) => rows.length'
    const fn: AnalysisRequest = { v: 1, kind: 'function', source, output: { kind: 'number', lo: 0, hi: 10 }, aggregate: 'sum', resultKey: defaultRequest.resultKey }
    const saved = k
    try {
      k = await keeper({ request: fn, policy: { epsilonBudget: 1, analyses: ['sql', 'function'], functionDeny: [functionHash(source)] }, declared: { analysisKind: 'sql' } })
      await refused({ sealedAnalysis: await k.sealed(fn) }, 'bad-analysis')
    } finally {
      k = saved
    }
  })

  it('wrong worker: the job is assigned to another address', async () => {
    const other = await attestedWorker('not-assigned')
    await refused({ worker: other, job: jobOf(1n, worker) }, 'not-assigned-worker')
  })

  it('worker not attested: a forged sim quote, a quote binding other keys, bytes that are no quote', async () => {
    // Signed by an attestation key that is not the network's dev signer.
    const forger = await attestedWorker('forged', { attestationPrivateKey: bytesToHex(testBytes('release/forger-attestation-key')) })
    await refused({ worker: forger, job: jobOf(1n, forger) }, 'worker-not-attested')
    // A genuine quote, but of another enclave's keys, presented for this worker.
    const other = await attestedWorker('other-keys')
    await refused({ quote: other.quote }, 'worker-not-attested')
    // This worker's quote with another HPKE key claimed on chain (the release would go to that key).
    await refused({ onChain: { hpkePublicKey: other.onChain.hpkePublicKey } }, 'worker-not-attested')
    await refused({ quote: new Uint8Array(64) }, 'worker-not-attested')
    // Sim quotes on a network that does not accept the simulated TEE.
    await refused({ policy: { ...POLICY, allowSim: false } }, 'worker-not-attested')
  })

  it('worker not eligible: not a compute worker, or not eligible on chain', async () => {
    await refused({ onChain: { isCompute: false } }, 'worker-not-eligible')
    await refused({ onChain: { eligible: false } }, 'worker-not-eligible')
  })

  it('measurement not allowed: by the chain’s allow-list, and by the enclave’s own, checked on the quote', async () => {
    await refused({ onChain: { measurementAllowed: false } }, 'measurement-not-allowed')
    // The host says the chain allows it; the quote's measurement is not on the enclave's list.
    const stale = await attestedWorker('stale-build', { measurement: OTHER_MEASUREMENT })
    await refused({ worker: stale, job: jobOf(1n, stale) }, 'measurement-not-allowed')
  })

  it('job not open: completed, failed or refunded jobs get no key', async () => {
    for (const status of ['completed', 'failed', 'refunded'] as const) await refused({ job: jobOf(1n, worker, { status }) }, 'job-not-open')
  })

  it('not charged: a job this keeper has not seen charged is refused, to be retried', async () => {
    await refused({ job: jobOf(9n, worker) }, 'not-charged', true)
  })

  it('charge mismatch: analyst, dataset, ε or privacy hash differ from the charge custody applied', async () => {
    const stranger = privateKeyToAccount(bytesToHex(testBytes('release/stranger'))).address
    await refused({ job: jobOf(1n, worker, { analyst: stranger }) }, 'job-mismatch')
    await refused({ job: jobOf(1n, worker, { datasetId: `0x${'77'.repeat(32)}` }) }, 'job-mismatch')
    await refused({ job: jobOf(1n, worker, { epsilonMicros: 100_000n }) }, 'job-mismatch')
    await refused({ job: jobOf(1n, worker, { privacyParamsHash: privacyParamsHash({ epsilon: 0.1 }) }) }, 'job-mismatch')
    await refused({ job: jobOf(1n, worker, { analysisHash: analysisHash({ ...defaultRequest, sql: 'SELECT 1' }) }) }, 'job-mismatch')
  })

  it('a refused charge is no charge: the budget refusal of job 3 stands', async () => {
    await refused({ job: jobOf(3n, worker) }, 'budget-exhausted')
  })

  it('analysis mismatch: the sealed analysis is not the one the job committed to', async () => {
    // Another query, sealed properly to the same key, under the job's (charged) hashes.
    await refused({ sealedAnalysis: await k.sealed({ ...defaultRequest, sql: 'SELECT plan, COUNT(*) FROM t GROUP BY plan' }) }, 'bad-analysis')
    // The same query with another result key: the host cannot redirect the output to itself.
    await refused({ sealedAnalysis: await k.sealed({ ...defaultRequest, resultKey: bytesToHex(testBytes('release/host-key')) }) }, 'bad-analysis')
    await refused({ sealedAnalysis: await k.sealed(defaultRequest, { epsilon: 0.5, bounds: { amount: [0, 1] } }) }, 'bad-analysis')
    const tampered = sealedAnalysis.slice()
    tampered[tampered.length - 1]! ^= 1
    await refused({ sealedAnalysis: tampered }, 'bad-analysis')
    await refused({ sealedAnalysis: new Uint8Array(10) }, 'bad-analysis')
  })

  it('a second worker for the job only as the chain’s one reassignment; never a third', async () => {
    const [w2, w3] = [await attestedWorker('reassigned'), await attestedWorker('third')]
    const first = worker.onChain.address
    // Released to the first worker already: again to it is fine (its enclave runs a job once).
    assert.equal((await release({ releasedTo: [first] })).ok, true)
    // Jobs.sol reassigns a timed-out job once: one other worker may get it.
    assert.equal((await release({ worker: w2, job: jobOf(1n, w2), releasedTo: [first] })).ok, true)
    assert.equal(MAX_JOB_WORKERS, 2)
    // A host claiming yet another assignment is refused, whatever job view it shows.
    await refused({ worker: w3, job: jobOf(1n, w3), releasedTo: [first, w2.onChain.address] }, 'released-to-other-workers')
    assert.equal((await release({ worker: w2, job: jobOf(1n, w2), releasedTo: [first, w2.onChain.address] })).ok, true)
  })

  it('quorum: with three keepers, a release needs one other member’s confirmation of the same charge', async () => {
    const [a, b, stranger] = ['release/peer-a', 'release/peer-b', 'release/stranger-keeper'].map((l) => privateKeyToAccount(bytesToHex(testBytes(l))))
    const peers = [a!, b!]
    const state = withGenesisKeeper(k.replica.state, { address: self.address, hpkePublicKey: `0x${'11'.repeat(32)}`, attestedAt: NOW })
    const confirmation = async (signer: LocalAccount, jobId = 1n, challenge = CHALLENGE, assignment = { worker: worker.onChain.address, open: true }) => {
      const out = await confirmCharge(state, { ...DOMAIN, epoch: k.epoch }, jobId, challenge, signer, assignment)
      assert.equal(out.ok, true)
      return out
    }
    // Alone, this keeper is one of three: not a majority; to be retried (no signed refusal).
    await refused({ peers }, 'quorum-not-reached', true)
    // A non-member's confirmation, or a member's for another job, counts for nothing.
    await refused({ peers, confirmations: [await confirmation(stranger!)] }, 'quorum-not-reached', true)
    await refused({ peers, confirmations: [{ ...(await confirmation(a!, 2n)), keeper: a!.address }] }, 'quorum-not-reached', true)
    // A member's confirmation of this charge, but over another (older) challenge: a replay.
    await refused({ peers, confirmations: [await confirmation(a!, 1n, `0x${'0d'.repeat(32)}`)] }, 'quorum-not-reached', true)
    // A member whose host reads the job as assigned to another worker vouches for that worker only; one that reads it closed vouches for nothing.
    await refused({ peers, confirmations: [await confirmation(a!, 1n, CHALLENGE, { worker: stranger!.address, open: true })] }, 'quorum-not-reached', true)
    assert.deepEqual(await confirmCharge(state, { ...DOMAIN, epoch: k.epoch }, 1n, CHALLENGE, a!, { worker: worker.onChain.address, open: false }), { ok: false, reason: 'job-not-open' })
    // One member's confirmation of this charge: two of three.
    assert.equal((await release({ peers, confirmations: [await confirmation(a!)] })).ok, true)
    // Malformed confirmations from the host are refused at the door.
    await assert.rejects(release({ peers, confirmations: 'yes' }), /charge confirmations/)
  })

  it('keeper set too small: on a network whose measured config asks for three keepers, a set of one or two releases nothing, even confirmed', async () => {
    const [a, b] = ['release/peer-a', 'release/peer-b'].map((l) => privateKeyToAccount(bytesToHex(testBytes(l))))
    const state = withGenesisKeeper(k.replica.state, { address: self.address, hpkePublicKey: `0x${'11'.repeat(32)}`, attestedAt: NOW })
    const confirmation = async (signer: LocalAccount) => confirmCharge(state, { ...DOMAIN, epoch: k.epoch }, 1n, CHALLENGE, signer, { worker: worker.onChain.address, open: true })
    // A host that hides every other keeper from its keeper: alone it would be its own quorum.
    await refused({ minKeepers: 3 }, 'keeper-set-too-small', true)
    await refused({ minKeepers: 3, peers: [a!], confirmations: [await confirmation(a!)] }, 'keeper-set-too-small', true)
    assert.equal((await release({ minKeepers: 3, peers: [a!, b!], confirmations: [await confirmation(a!)] })).ok, true)
  })

  it('dataset deleted after the charge: a Delete applied later stops the release', async () => {
    assert.equal((await release()).ok, true)
    await k.deleteDataset()
    await refused({}, 'dataset-deleted')
    await refused({ job: jobOf(2n, worker) }, 'dataset-deleted')
  })
})
