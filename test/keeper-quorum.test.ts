/**
 * Issue 8, attack 2 residual, mounted with three real keeper enclave processes (test/hostile-host.ts),
 * each behind its own host. The keeper set grows by admission entries approved by a majority of
 * its members; then one keeper's host feeds its enclave a forked inbox (a fabricated job charge,
 * a withheld Delete) and cannot get a release: the other two enclaves, reading the real inbox
 * through their own hosts, refuse to confirm, and the releasing enclave counts only members'
 * confirmations over its own fresh challenge. Refusals need the same quorum: a host feeding its
 * keeper a wrong job view, wrong worker facts or wrong analysis bytes gets no failure the worker
 * signs (the worker enclave counts the votes itself). Last, the set shrinks by a removal the
 * majority approves, and the removed keeper stops counting.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { bytesToHex, hexToBytes, keccak256, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { analysisHash, epsilonMicros, privacyParamsHash, sealAnalysis, type AnalysisRequest, type PrivacyParams } from '../src/analysis/index.js'
import { inputCidsHashFor, type InboxEntry } from '../src/chain/index.js'
import { generateDatasetKey } from '../src/crypto/envelope.js'
import { datasetIdFor, dekHash, signOwnerCommand, type OwnerCommand } from '../src/crypto/typed-commands.js'
import { isW3aError } from '../src/core/errors.js'
import { ZERO_HASH, commandHash, encodeJobCharge, encodeKeeperRemoval, nextInboxHead, parsePolicy, policyHash, sealCommand, type CustodyPolicy } from '../src/custody/index.js'
import type { JobView } from '../src/enclave/job-view.js'
import type { ReleaseOutcome, WorkerOnChain } from '../src/enclave/jobs.js'
import type { NamedKeeper, RefusalQuorum, RefusalVote } from '../src/enclave/refusal-quorum.js'
import { commitState, keeperAdmission, TEST_NETWORK, startHostileHost, testEnclaveBoot, type HostileHost } from './hostile-host.js'

const { chainId: CHAIN_ID, registry: REGISTRY, inbox: INBOX, jobs: JOBS } = TEST_NETWORK
const RELAYER: Address = '0x00000000000000000000000000000000000000aa'
const MANIFEST_CID = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
/** Admission approvals name a verification time the enclaves check against their clock: the inbox runs now. */
const T0 = BigInt(Math.floor(Date.now() / 1000))

const owner = privateKeyToAccount(`0x${'11'.repeat(32)}`)
const analyst = privateKeyToAccount(`0x${'22'.repeat(32)}`)
const privacy: PrivacyParams = { epsilon: 1 }
const policy: CustodyPolicy = parsePolicy({ epsilonBudget: 10, analystEpsilonBudget: 10 })

type Confirmation = { ok: boolean; reason?: string; keeper?: Address; signature?: Hex }
type Vote = RefusalVote & { failure: RefusalQuorum['failure']; epoch: string; keepers: NamedKeeper[] }
type VoteAnswer = { ok: boolean; reason?: string; keeper?: Address; signature?: Hex; vote?: Vote }
type KeeperSetView = { keepers: Address[]; quorum: number; member: boolean }

/** The inbox as the chain has it, or as one host forks it: entries with their hash chain, one block each. */
class Inbox {
  entries: InboxEntry[] = []
  private head: Hex = ZERO_HASH
  fork(): Inbox {
    const f = new Inbox()
    f.entries = [...this.entries]
    f.head = this.head
    return f
  }
  post(sender: Address, ciphertext: Uint8Array): InboxEntry {
    const index = BigInt(this.entries.length)
    this.head = nextInboxHead(this.head, { index, sender, epoch: 0n, ciphertext }, commandHash(ciphertext))
    const block = index + 1n
    const entry: InboxEntry = { index, sender, epoch: 0n, ciphertext: bytesToHex(ciphertext), head: this.head, blockNumber: block, timestamp: T0 + block }
    this.entries.push(entry)
    return entry
  }
}

let work: string
let keepers: HostileHost[]
const real = new Inbox()
let epochKey: Hex
let datasetId: Hex
let salt: Hex
let jobs: Map<bigint, { view: JobView; sealedAnalysis: Hex }>

const [k1, k2, k3] = [0, 1, 2].map((i) => () => keepers[i]!)
const worker = (): WorkerOnChain => ({ address: k2!().info.address, hpkePublicKey: k2!().info.hpkePublicKey, isCompute: true, eligible: true, measurementAllowed: true })
const feed = (k: HostileHost, inbox: Inbox) => k.call<{ receipts: { status: string; reason?: string; type?: string }[] }>('applyEntries', { entries: inbox.entries, headEpoch: 0n })
/** A keeper's confirmation, with the job as its own host reads the chain (by default: open, assigned to `worker()`). */
const confirm = (k: HostileHost, jobId: bigint, challenge: Hex, assignment: { worker: Address; open: boolean } = { worker: worker().address, open: true }) =>
  k.call<Confirmation>('confirmCharge', { jobId, challenge, assignment })
const challengeOf = (k: HostileHost, jobId: bigint) => k.call<Hex>('chargeChallenge', { jobId })
/** What a host shows its enclave of a job (by default what the chain and storage hold). */
type Shown = { job?: JobView; worker?: WorkerOnChain; quote?: Hex; sealedAnalysis?: Hex }
/** The releasing host first has its enclave's state witnessed by the other two (rollback protection), then asks for the release. */
const release = async (k: HostileHost, jobId: bigint, confirmations: unknown[] = [], view?: Shown, votes: unknown[] = []) => {
  const job = jobs.get(jobId)!
  await commitState(k, [k1!(), k2!(), k3!()].filter((x) => x !== k))
  return k.call<ReleaseOutcome>('releaseJob', { job: view?.job ?? job.view, worker: view?.worker ?? worker(), quote: view?.quote ?? k2!().info.quote, sealedAnalysis: view?.sealedAnalysis ?? job.sealedAnalysis, confirmations, votes })
}
/** A keeper's word on a release (what its host's `/v1/keeper/confirm-charge` returns), from what its host shows it. */
const voteOn = (k: HostileHost, jobId: bigint, challenge: Hex, shown: Shown = {}) => {
  const job = jobs.get(jobId)!
  return k.call<VoteAnswer>('voteOnRelease', { challenge, job: shown.job ?? job.view, worker: shown.worker ?? worker(), quote: shown.quote ?? k2!().info.quote, sealedAnalysis: shown.sealedAnalysis ?? job.sealedAnalysis })
}
/** The refusal a host can wrap from the votes it holds (terms from the first). */
const wrap = (votes: Vote[], challenge: Hex, reason: string): RefusalQuorum => {
  const { failure, epoch, keepers } = votes[0]!
  return { v: 2, failure, reason, epoch, challenge, keepers, votes: votes.map(({ keeper, hpkePublicKey, quote, signature }) => ({ keeper, hpkePublicKey, quote, signature })) }
}
/** The worker's enclave (keeper 2's: it is the assigned worker) asked to sign a failure on `refused`. */
const runRefused = (jobId: bigint, refused: unknown) => k2!().call<{ envelope: { status: string; report?: { reason: string } } }>('runJob', { job: jobs.get(jobId)!.view, release: { refused } })
const unverified = (e: unknown) => isW3aError(e, 'REFUSAL_UNVERIFIED')
/** The outcome without a keeper's signed statement: `{ ok: false, reason, retry }` means no key left the enclave. */
const terms = (o: ReleaseOutcome) => (o.ok ? { ok: true } : { ok: o.ok, reason: o.reason, retry: o.retry })

async function ownerCommand(command: OwnerCommand, extra: { dek?: Uint8Array; policy?: CustodyPolicy } = {}): Promise<void> {
  const signed = await signOwnerCommand({ account: owner, domain: { chainId: CHAIN_ID, verifyingContract: INBOX }, command })
  real.post(RELAYER, await sealCommand({ epochPublicKey: hexToBytes(epochKey), epoch: 0n, chainId: CHAIN_ID, inbox: INBOX, signed, ...extra }))
}

/** The Jobs contract's charge (contracts/Jobs.sol `_postCharge`); a forking host can make one up. */
function chargePayload(jobId: bigint, view: JobView): Uint8Array {
  return encodeJobCharge({ jobId, analyst: view.analyst, datasetId: view.datasetId, analysisHash: view.analysisHash, privacyParamsHash: view.privacyParamsHash, epsilonMicros: view.epsilonMicros, admitted: false })
}

const admission = (newcomer: HostileHost, approvers: HostileHost[]) => keeperAdmission(newcomer, approvers, T0)

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'w3a-keeper-quorum-'))
  const boot = (name: string) => testEnclaveBoot(join(work, name), { gatewayUrl: 'http://127.0.0.1:9' })
  keepers = await Promise.all(['k1', 'k2', 'k3'].map((n) => startHostileHost(boot(n))))
  epochKey = (await k1!().call<{ publicKey: Hex }>('bootstrapCluster', { epoch: 0n })).publicKey
  // Keepers 2 and 3 get the cluster secret (and the keeper set of one) by the measured hand-over.
  for (const k of [k2!(), k3!()]) {
    const response = await k1!().call('serveHandover', { request: await k.call('requestHandover'), newcomerIsKeeper: true })
    await k.call('receiveHandover', { response })
  }

  salt = bytesToHex(new Uint8Array(32).fill(7))
  datasetId = datasetIdFor(owner.address, salt)
  const dek = generateDatasetKey()
  const exp = T0 + 1_000_000n
  await ownerCommand({ type: 'RegisterDataset', message: { datasetId, salt, manifestCid: MANIFEST_CID, sealedKeyHash: dekHash(dek), nonce: 1n, expiry: exp } }, { dek })
  await ownerCommand({ type: 'Grant', message: { datasetId, grantee: analyst.address, expiresAt: 0n, uses: 0, nonce: 2n, expiry: exp } })
  await ownerCommand({ type: 'SetPolicy', message: { datasetId, policyHash: policyHash(policy), nonce: 3n, expiry: exp } }, { policy })

  const key = await k1!().call<{ epoch: bigint; publicKey: Hex }>('analysisKey')
  jobs = new Map()
  for (const jobId of [1n, 2n, 3n, 4n, 5n]) {
    const request: AnalysisRequest = { v: 1, kind: 'sql', sql: `SELECT region, count(*) AS n FROM data GROUP BY region -- ${jobId}`, resultKey: `0x${'33'.repeat(32)}` }
    // Job 5 asks for more ε than the dataset's budget: its charge is refused (a failure of the analyst's doing).
    const privacy: PrivacyParams = jobId === 5n ? { epsilon: 20 } : { epsilon: 1 }
    const committed = { analysisHash: analysisHash(request), privacyParamsHash: privacyParamsHash(privacy), epsilonMicros: epsilonMicros(privacy) }
    const view: JobView = { id: jobId, status: 'open', analyst: analyst.address, worker: k2!().info.address, datasetId, inputCidsHash: inputCidsHashFor(MANIFEST_CID), ...committed }
    const sealed = await sealAnalysis({ chainId: CHAIN_ID, jobs: JOBS, analysisPublicKey: hexToBytes(key.publicKey), epoch: key.epoch, request, privacy })
    jobs.set(jobId, { view, sealedAnalysis: bytesToHex(sealed) })
  }
})

after(async () => {
  await Promise.all((keepers ?? []).map((k) => k.stop()))
  await rm(work, { recursive: true, force: true })
})

describe('keeper quorum: three keeper enclaves, each behind its own host', () => {
  it('the keeper set grows only with a strict majority of its members’ approvals', async () => {
    real.post(RELAYER, await admission(k2!(), [k1!()])) // 1 of {k1}: admitted
    real.post(RELAYER, await admission(k3!(), [k2!()])) // 1 of {k1, k2}: one keeper cannot admit another
    real.post(RELAYER, await admission(k3!(), [k1!(), k2!()])) // 2 of {k1, k2}: admitted
    real.post(JOBS, chargePayload(1n, jobs.get(1n)!.view))
    real.post(JOBS, chargePayload(2n, jobs.get(2n)!.view))
    for (const k of keepers) {
      const out = await feed(k, real)
      assert.deepEqual(
        out.receipts.slice(3).map((r) => [r.type, r.status, r.reason]),
        [
          ['KeeperAdmission', 'applied', undefined],
          ['KeeperAdmission', 'refused', 'quorum-not-reached'],
          ['KeeperAdmission', 'applied', undefined],
          ['JobCharge', 'applied', undefined],
          ['JobCharge', 'applied', undefined],
        ],
      )
      const set = await k.call<KeeperSetView>('keeperSet')
      assert.deepEqual([set.keepers.length, set.quorum, set.member], [3, 2, true])
    }
    const roots = await Promise.all(keepers.map((k) => k.call<Hex>('stateRoot')))
    assert.equal(new Set(roots).size, 1, 'every keeper holds the same state, keeper set included')
  })

  it('an honest release needs one other keeper’s confirmation over the releasing enclave’s own challenge', async () => {
    assert.deepEqual(terms(await release(k1!(), 1n)), { ok: false, reason: 'quorum-not-reached', retry: true })
    const challenge = await challengeOf(k1!(), 1n)
    const c2 = await confirm(k2!(), 1n, challenge)
    assert.equal(c2.ok, true)
    assert.deepEqual(terms(await release(k1!(), 1n, [c2])), { ok: true })
    // One use: the same confirmation does not serve a second release.
    assert.deepEqual(terms(await release(k1!(), 1n, [c2])), { ok: false, reason: 'quorum-not-reached', retry: true })
  })

  it('attack: a host sends the key to another attested worker than the chain assigned, or releases a finished job: the others do not confirm it', async () => {
    // Keeper 1's host shows its enclave job 1 assigned to keeper 3's (attested) worker; keeper 2's host reads the chain: worker 2.
    const other: WorkerOnChain = { address: k3!().info.address, hpkePublicKey: k3!().info.hpkePublicKey, isCompute: true, eligible: true, measurementAllowed: true }
    const job = jobs.get(1n)!
    const challenge = await challengeOf(k1!(), 1n)
    const c2 = await confirm(k2!(), 1n, challenge)
    const out = await release(k1!(), 1n, [c2], { job: { ...job.view, worker: other.address }, worker: other, quote: k3!().info.quote })
    assert.deepEqual(terms(out), { ok: false, reason: 'quorum-not-reached', retry: true })
    // A keeper whose host reads the job finished does not confirm at all.
    assert.deepEqual(await confirm(k2!(), 1n, await challengeOf(k1!(), 1n), { worker: worker().address, open: false }), { ok: false, reason: 'job-not-open' })
  })

  it('attack: a host feeds its keeper a wrong job view, wrong worker facts or wrong analysis bytes: no failure the worker signs; the honest path releases', async () => {
    real.post(JOBS, chargePayload(4n, jobs.get(4n)!.view))
    real.post(JOBS, chargePayload(5n, jobs.get(5n)!.view))
    for (const k of keepers) assert.deepEqual((await feed(k, real)).receipts.map((r) => [r.status, r.reason]), [['applied', undefined], ['refused', 'budget-exhausted']])
    const view = jobs.get(4n)!.view
    const lies: [string, Shown, string][] = [
      ['wrong job view', { job: { ...view, analysisHash: `0x${'99'.repeat(32)}` } }, 'job-mismatch'],
      ['wrong worker facts', { worker: { ...worker(), eligible: false } }, 'worker-not-eligible'],
      ['wrong analysis bytes', { sealedAnalysis: '0x00' }, 'bad-analysis'],
    ]
    for (const [what, lie, reason] of lies) {
      const challenge = await challengeOf(k3!(), 4n)
      // The honest keepers judge from their own hosts' reads: they would release, so they confirm and vote for no refusal.
      const honest = await Promise.all([voteOn(k1!(), 4n, challenge), voteOn(k2!(), 4n, challenge)])
      assert.deepEqual(honest.map((a) => [a.ok, a.vote === undefined]), [[true, true], [true, true]], what)
      // Keeper 3's own enclave, fed the lie, votes to refuse; that is one vote of three.
      const own = await voteOn(k3!(), 4n, challenge, lie)
      assert.equal(own.vote?.keeper, k3!().info.address, what)
      // With the honest keepers' confirmations (of a release, not of its refusal) and its own vote twice.
      const out = await release(k3!(), 4n, honest, lie, [own.vote, own.vote])
      assert.deepEqual(terms(out), { ok: false, reason, retry: true }, what)
      assert.equal('refusal' in out || 'sealed' in out, false, `${what}: no statement, no key`)
      // Whatever the host wraps from what it holds, the worker's enclave counts one vote of the two needed.
      await assert.rejects(runRefused(4n, wrap([own.vote!, own.vote!], challenge, reason)), unverified, what)
    }
    // The honest path: keeper 1 releases with keeper 2's confirmation (from keeper 2's own reads).
    const challenge = await challengeOf(k1!(), 4n)
    const c2 = await voteOn(k2!(), 4n, challenge)
    assert.deepEqual(terms(await release(k1!(), 4n, [c2])), { ok: true })
  })

  it('a refusal a majority of keepers reach from their own reads is signed by the worker', async () => {
    const challenge = await challengeOf(k1!(), 5n)
    const peers = await Promise.all([voteOn(k2!(), 5n, challenge), voteOn(k3!(), 5n, challenge)])
    assert.deepEqual(peers.map((a) => [a.ok, a.reason, a.vote?.failure]), [[false, 'budget-exhausted', 'budget-exhausted'], [false, 'budget-exhausted', 'budget-exhausted']])
    const out = await release(k1!(), 5n, [], undefined, peers.map((a) => a.vote))
    assert.deepEqual(terms(out), { ok: false, reason: 'budget-exhausted', retry: false })
    assert.ok(!out.ok && out.refusal)
    if (out.ok || !out.refusal) return
    assert.deepEqual(out.refusal.votes.map((v) => v.keeper).sort(), keepers.map((k) => k.info.address).sort())
    assert.equal(out.refusal.keepers.length, 3)
    // One of the three votes is not enough for the worker; the quorum is.
    await assert.rejects(runRefused(5n, { ...out.refusal, votes: out.refusal.votes.slice(0, 1) }), unverified)
    const { envelope } = await runRefused(5n, out.refusal)
    assert.deepEqual([envelope.status, envelope.report?.reason], ['failed', 'budget-exhausted'])
  })

  it('attack: a host forks its keeper’s inbox (a charge nobody paid, a withheld Delete) and gets no release', async () => {
    // Before the Delete, keeper 3's host collects a genuine confirmation of job 2 and spends it.
    const early = await challengeOf(k3!(), 2n)
    const early1 = await confirm(k1!(), 2n, early)
    assert.deepEqual(terms(await release(k3!(), 2n, [early1])), { ok: true })

    // The chain goes on: the owner deletes the dataset. Keepers 1 and 2 read it through their hosts.
    const fork = real.fork()
    await ownerCommand({ type: 'Delete', message: { datasetId, nonce: 4n, expiry: T0 + 1_000_000n } })
    for (const k of [k1!(), k2!()]) assert.deepEqual((await feed(k, real)).receipts.map((r) => r.status), ['applied'])

    // Keeper 3's host withholds the Delete and feeds a fork with a job 3 charge the Jobs contract never posted.
    fork.post(JOBS, chargePayload(3n, jobs.get(3n)!.view))
    assert.deepEqual((await feed(k3!(), fork)).receipts.map((r) => [r.type, r.status]), [['JobCharge', 'applied']])

    for (const [jobId, reason] of [[3n, 'not-charged'], [2n, 'dataset-deleted']] as const) {
      const challenge = await challengeOf(k3!(), jobId)
      // The honest keepers answer from their own state: no confirmation.
      const answers = await Promise.all([confirm(k1!(), jobId, challenge), confirm(k2!(), jobId, challenge)])
      assert.deepEqual(answers, [{ ok: false, reason }, { ok: false, reason }])
      // All the host has: its own keeper's confirmation (twice), a stranger's signature, the spent early one.
      const own = await confirm(k3!(), jobId, challenge)
      assert.equal(own.ok, true)
      const stranger = privateKeyToAccount(`0x${'44'.repeat(32)}`)
      const forged = { keeper: stranger.address, signature: await stranger.signMessage({ message: { raw: keccak256('0x00') } }) }
      const out = await release(k3!(), jobId, [own, own, forged, early1])
      assert.deepEqual(terms(out), { ok: false, reason: 'quorum-not-reached', retry: true })
      assert.equal('sealed' in out, false)
    }
    // Keeper 1, reading the real chain, refuses the deleted dataset: alone it is one of three (a retry); with keeper 2's vote, final.
    assert.deepEqual(terms(await release(k1!(), 2n)), { ok: false, reason: 'dataset-deleted', retry: true })
    const challenge = await challengeOf(k1!(), 2n)
    const v2 = await voteOn(k2!(), 2n, challenge)
    assert.equal(v2.vote?.failure, 'dataset-deleted')
    const out = await release(k1!(), 2n, [], undefined, [v2.vote])
    assert.deepEqual(terms(out), { ok: false, reason: 'dataset-deleted', retry: false })
    assert.equal(!out.ok && out.refusal?.votes.length, 2)
  })

  it('keeper removal: a majority of the set removes a keeper; the quorum follows the live set and the removed keeper stops counting', async () => {
    // Keeper 3's host kept its enclave on a fork; keepers 1 and 2, whose hosts read it gone, approve its removal.
    const approve = (k: HostileHost, keeper: HostileHost, activeOnChain = false) => k.call<{ signature: Hex; admittedAt: bigint }>('approveKeeperRemoval', { keeper: keeper.info.address, activeOnChain })
    // A host reading keeper 3 as an active keeper on chain gets no approval from its enclave.
    await assert.rejects(approve(k1!(), k3!(), true), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
    const [a1, a2, a3] = [await approve(k1!(), k3!()), await approve(k2!(), k3!()), await approve(k3!(), k1!())]
    // Keeper 3 alone cannot remove keeper 1 (one of three), then keepers 1 and 2 remove keeper 3.
    real.post(RELAYER, encodeKeeperRemoval({ keeper: k1!().info.address, admittedAt: a3.admittedAt, approvals: [a3.signature] }))
    real.post(RELAYER, encodeKeeperRemoval({ keeper: k3!().info.address, admittedAt: a1.admittedAt, approvals: [a1.signature, a2.signature] }))
    for (const k of [k1!(), k2!()]) {
      assert.deepEqual((await feed(k, real)).receipts.map((r) => [r.type, r.status, r.reason]), [['KeeperRemoval', 'refused', 'quorum-not-reached'], ['KeeperRemoval', 'applied', undefined]])
      const set = await k.call<KeeperSetView>('keeperSet')
      assert.deepEqual([set.keepers.length, set.quorum, set.keepers.includes(k3!().info.address.toLowerCase() as Address)], [2, 2, false])
    }
    // Its acknowledgement of keeper 1's state no longer counts; keeper 2's does.
    assert.equal((await commitState(k1!(), [k3!()])).committed, false)
    assert.equal((await commitState(k1!(), [k2!()])).committed, true)
    // A refusal now needs both remaining keepers: keeper 3's vote for job 5 (the same failure, from its own state) counts for nothing.
    const challenge = await challengeOf(k1!(), 5n)
    const v3 = await voteOn(k3!(), 5n, challenge)
    assert.equal(v3.vote?.failure, 'budget-exhausted')
    assert.deepEqual(terms(await release(k1!(), 5n, [], undefined, [v3.vote])), { ok: false, reason: 'budget-exhausted', retry: true })
    const again = await challengeOf(k1!(), 2n)
    const out = await release(k1!(), 2n, [], undefined, [(await voteOn(k2!(), 2n, again)).vote])
    assert.equal(!out.ok && out.refusal?.keepers.length, 2)
    // The worker verifies the two-member quorum and signs the failure.
    const { envelope } = await runRefused(2n, !out.ok && out.refusal)
    assert.deepEqual([envelope.status, envelope.report?.reason], ['failed', 'dataset-deleted'])
  })
})
