/**
 * Issue 8, attack 4, mounted against three real keeper enclave processes (test/hostile-host.ts):
 * keeper A applies a delete, keepers B and C witness its new state; A's hostile host then copies
 * A's older sealed files back and restarts it. A must refuse to resume (STATE_ROLLED_BACK), and so
 * refuse to release the deleted dataset's key, until a hand-over from a current keeper replaces
 * its state. A restart without a rollback resumes normally.
 */
import assert from 'node:assert/strict'
import { cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { bytesToHex, hexToBytes, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { POLICY } from '../src/analysis/fixture.test.js'
import { analysisHash, epsilonMicros, privacyParamsHash, sealAnalysis, type AnalysisRequest, type PrivacyParams } from '../src/analysis/index.js'
import { inputCidsHashFor, type InboxEntry } from '../src/chain/index.js'
import { isW3aError } from '../src/core/errors.js'
import { deriveAnalystResultKey } from '../src/crypto/analyst-result-key.js'
import { generateDatasetKey } from '../src/crypto/envelope.js'
import { datasetIdFor, dekHash, signOwnerCommand, type OwnerCommand } from '../src/crypto/typed-commands.js'
import { ZERO_HASH, encodeJobCharge, commandHash, nextInboxHead, policyHash, sealCommand, type CustodyPolicy } from '../src/custody/index.js'
import type { ReleaseOutcome, WorkerOnChain } from '../src/enclave/jobs.js'
import type { FreshnessInfo } from '../src/enclave/service.js'
import type { WitnessReport, WitnessStatement } from '../src/enclave/witness-report.js'
import { commitState, keeperAdmission, TEST_NETWORK, startHostileHost, testEnclaveBoot, type HostileHost } from './hostile-host.js'

const { chainId: CHAIN_ID, registry: REGISTRY, inbox: INBOX, jobs: JOBS } = TEST_NETWORK
/** Admission approvals name a verification time the enclaves check against their clock: the inbox runs now. */
const T0 = BigInt(Math.floor(Date.now() / 1000))
const RELAYER: Address = '0x00000000000000000000000000000000000000aa'
const owner = privateKeyToAccount(`0x${'11'.repeat(32)}`)
const analyst = privateKeyToAccount(`0x${'22'.repeat(32)}`)
const salt = bytesToHex(new Uint8Array(32).fill(7))
const datasetId = datasetIdFor(owner.address, salt)
const privacy: PrivacyParams = { epsilon: 1 }

let work: string
let A: HostileHost, B: HostileHost, C: HostileHost
const entries: InboxEntry[] = []
let head: Hex = ZERO_HASH

function post(sender: Address, ciphertext: Uint8Array): void {
  const index = BigInt(entries.length)
  head = nextInboxHead(head, { index, sender, epoch: 0n, ciphertext }, commandHash(ciphertext))
  entries.push({ index, sender, epoch: 0n, ciphertext: bytesToHex(ciphertext), head, blockNumber: index + 1n, timestamp: T0 + index * 12n })
}
async function ownerCommand(epochKey: Hex, command: OwnerCommand, extra: { dek?: Uint8Array; policy?: CustodyPolicy } = {}): Promise<void> {
  const signed = await signOwnerCommand({ account: owner, domain: { chainId: CHAIN_ID, verifyingContract: INBOX }, command })
  post(owner.address, await sealCommand({ epochPublicKey: hexToBytes(epochKey), epoch: 0n, chainId: CHAIN_ID, inbox: INBOX, signed, ...extra }))
}
/** Every keeper replays the same inbox (its host relays the chain). */
const applyAll = async (...hosts: HostileHost[]) => {
  for (const h of hosts) await h.call('applyEntries', { entries, headEpoch: 0n })
}
/** A's host asks B and C for their freshness reports under A's challenge. */
async function peerReports(h: HostileHost, peers: HostileHost[]): Promise<WitnessReport[]> {
  const nonce = await h.call<Hex>('freshnessChallenge')
  return Promise.all(peers.map((p) => p.call<WitnessReport>('attestFreshness', { keeper: h.info.address, nonce })))
}

let job: { view: Record<string, unknown>; sealedAnalysis: Hex }
/** A's host asks for the release, with the confirmations it got from `confirmers` over A's fresh challenge (A is also the job's worker). */
const release = async (h: HostileHost, confirmers: HostileHost[] = []) => {
  const worker: WorkerOnChain = { address: h.info.address, hpkePublicKey: h.info.hpkePublicKey, isCompute: true, eligible: true, measurementAllowed: true }
  const challenge = confirmers.length > 0 ? await h.call<Hex>('chargeChallenge', { jobId: 1n }) : undefined
  const confirmations = await Promise.all(confirmers.map((c) => c.call('confirmCharge', { jobId: 1n, challenge, assignment: { worker: worker.address, open: true } })))
  return h.call<ReleaseOutcome>('releaseJob', { job: { ...job.view, worker: worker.address }, worker, quote: h.info.quote, sealedAnalysis: job.sealedAnalysis, confirmations })
}
const terms = (o: ReleaseOutcome) => (o.ok ? { ok: true } : { ok: o.ok, reason: o.reason, retry: o.retry })
const code = (c: string) => (e: unknown) => isW3aError(e, c as never)

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'w3a-rollback-'))
  const boot = (name: string) => testEnclaveBoot(join(work, name))
  ;[A, B, C] = (await Promise.all(['a', 'b', 'c'].map((n) => startHostileHost(boot(n))))) as [HostileHost, HostileHost, HostileHost]
  const { publicKey } = await A.call<{ publicKey: Hex }>('bootstrapCluster', { epoch: 0n })
  // B and C join by hand-over from A: A verifies their quotes, they verify A's, and each counts the others it verified.
  for (const newcomer of [B, C]) {
    const response = await A.call('serveHandover', { request: await newcomer.call('requestHandover'), newcomerIsKeeper: true })
    await newcomer.call('receiveHandover', { response })
  }
  assert.equal((await A.call<FreshnessInfo>('freshness')).keepers.length, 3)

  const dek = generateDatasetKey()
  const exp = T0 + 1_000_000n
  await ownerCommand(publicKey, { type: 'RegisterDataset', message: { datasetId, salt, manifestCid: 'bafkreigh2akiscaildc', sealedKeyHash: dekHash(dek), nonce: 1n, expiry: exp } }, { dek })
  await ownerCommand(publicKey, { type: 'Grant', message: { datasetId, grantee: analyst.address, expiresAt: 0n, uses: 0, nonce: 2n, expiry: exp } })
  await ownerCommand(publicKey, { type: 'SetPolicy', message: { datasetId, policyHash: policyHash(POLICY), nonce: 3n, expiry: exp } }, { policy: POLICY })
  const request: AnalysisRequest = { v: 1, kind: 'sql', sql: 'SELECT region, count(*) AS n FROM data GROUP BY region', resultKey: bytesToHex((await deriveAnalystResultKey({ account: analyst, chainId: CHAIN_ID })).publicKey) }
  const committed = { analysisHash: analysisHash(request), privacyParamsHash: privacyParamsHash(privacy), epsilonMicros: epsilonMicros(privacy) }
  post(JOBS, encodeJobCharge({ jobId: 1n, analyst: analyst.address, datasetId, ...committed, admitted: false }))
  await applyAll(A, B, C)
  const key = await A.call<{ epoch: bigint; publicKey: Hex }>('analysisKey')
  const sealed = await sealAnalysis({ chainId: CHAIN_ID, jobs: JOBS, analysisPublicKey: hexToBytes(key.publicKey), epoch: key.epoch, request, privacy })
  job = { view: { id: 1n, status: 'open', analyst: analyst.address, datasetId, inputCidsHash: inputCidsHashFor('bafkreigh2akiscaildc'), ...committed }, sealedAnalysis: bytesToHex(sealed) }
})

after(async () => {
  for (const h of [A, B, C]) await h?.stop()
  await rm(work, { recursive: true, force: true })
})

test('attack 2 residual: a genesis keeper whose host withholds the admissions of the keepers it handed over to releases nothing', async () => {
  // A release needs A's state witnessed by a majority (A and one peer).
  await assert.rejects(release(A), code('STATE_NOT_COMMITTED'))
  assert.deepEqual(await commitState(A, [B]), { committed: true, acks: 1, needed: 1, skipped: [] })
  // A's set is {A}: alone it would be its own quorum, on its host's chain reads. It knows B and C from the hand-overs.
  assert.deepEqual((await A.call<{ keepers: Address[] }>('keeperSet')).keepers.length, 1)
  assert.deepEqual(terms(await release(A)), { ok: false, reason: 'keeper-set-behind', retry: true })
  // Nor do confirmations help while the set is behind: they would be counted against a set of one.
  assert.deepEqual(terms(await release(A, [B])), { ok: false, reason: 'keeper-set-behind', retry: true })

  // The admissions reach A (B approved by A; C by A and B): the set is {A, B, C}, and a release needs a peer's confirmation.
  post(RELAYER, await keeperAdmission(B, [A], T0))
  await applyAll(A, B, C)
  post(RELAYER, await keeperAdmission(C, [A, B], T0))
  await applyAll(A, B, C)
  assert.deepEqual((await A.call<{ keepers: Address[]; quorum: number }>('keeperSet')).quorum, 2)
  assert.equal((await commitState(A, [B, C])).committed, true)
  assert.deepEqual(terms(await release(A)), { ok: false, reason: 'quorum-not-reached', retry: true })
})

test('attack 4: a keeper whose host restores its older sealed files refuses to resume, releases nothing, and recovers by a hand-over', async () => {
  assert.equal((await release(A, [B])).ok, true)
  const before = await A.call<FreshnessInfo>('freshness')
  const staleStatement = await A.call<WitnessStatement>('witnessStatement')
  await A.restart(() => cp(join(work, 'a', 'enclave'), join(work, 'a-copy'), { recursive: true })) // the host's copy, taken while A is down
  await A.call('resume', { reports: await peerReports(A, [B, C]) })
  assert.equal((await commitState(A, [B, C])).committed, true)

  // The owner deletes the dataset; every keeper applies it; B and C witness A's new state.
  await ownerCommand((await A.call<{ publicKey: Hex }>('epochPublicKey')).publicKey, { type: 'Delete', message: { datasetId, nonce: 4n, expiry: T0 + 1_000_000n } })
  await applyAll(A, B, C)
  assert.equal((await commitState(A, [B, C])).committed, true)
  const deleted = await A.call<FreshnessInfo>('freshness')
  assert.ok(deleted.seq > before.seq)
  const refusedReason = async () => {
    const out = await release(A, [B])
    return out.ok ? 'released' : out.reason
  }
  assert.equal(await refusedReason(), 'dataset-deleted')
  // A peer refuses to witness A's older statement again.
  await assert.rejects(B.call('witness', { statement: staleStatement }), code('STATE_ROLLED_BACK'))

  // (1) A restart without rollback: locked until the peers report, then fresh and already committed.
  await A.restart()
  await assert.rejects(release(A), code('STATE_NOT_FRESH'))
  await assert.rejects(A.call('answerQuery', { request: {}, now: 0 }), code('STATE_NOT_FRESH'))
  const resumed = await A.call<{ status: string; counted: Address[] }>('resume', { reports: await peerReports(A, [B, C]) })
  assert.equal(resumed.status, 'fresh')
  assert.equal(resumed.counted.length, 2)
  assert.deepEqual(await A.call<FreshnessInfo>('freshness'), { ...deleted, status: 'fresh', committed: true })
  assert.equal(await refusedReason(), 'dataset-deleted')

  // (2) The hostile host copies the older sealed files back (the dataset's key is live in them) and restarts A.
  await A.restart(async () => {
    await rm(join(work, 'a', 'enclave'), { recursive: true, force: true })
    await cp(join(work, 'a-copy'), join(work, 'a', 'enclave'), { recursive: true })
  })
  assert.deepEqual(await A.call<FreshnessInfo>('freshness'), { ...before, status: 'unverified', committed: false })
  // Withholding the peers' reports does not help: too few to resume, and a report of A itself does not count.
  await assert.rejects(A.call('resume', { reports: [] }), code('STATE_NOT_FRESH'))
  await assert.rejects(release(A), code('STATE_NOT_FRESH'))
  // Either peer's report alone shows the later state: rolled back, and what A loaded is erased.
  await assert.rejects(A.call('resume', { reports: (await peerReports(A, [B, C])).slice(1) }), code('STATE_ROLLED_BACK'))
  await assert.rejects(release(A), code('STATE_ROLLED_BACK'))
  await assert.rejects(A.call('applyEntries', { entries, headEpoch: 0n }), code('STATE_ROLLED_BACK'))
  await assert.rejects(A.call('serveHandover', { request: {}, newcomerIsKeeper: true }), code('STATE_ROLLED_BACK'))
  await assert.rejects(A.call('resume', { reports: await peerReports(A, [B, C]) }), code('STATE_ROLLED_BACK'))
  assert.equal(await A.call('hasClusterSecret'), false)
  await assert.rejects(A.call('witnessStatement'), code('STATE_ROLLED_BACK'))

  // (3) Recovery: a hand-over from a current keeper replaces keyring and state, above every seq the peers saw.
  const response = await B.call('serveHandover', { request: await A.call('requestHandover'), newcomerIsKeeper: true })
  await A.call('receiveHandover', { response })
  assert.equal(await A.call('stateRoot'), await B.call('stateRoot'))
  const recovered = await A.call<FreshnessInfo>('freshness')
  assert.equal(recovered.status, 'fresh')
  assert.ok(recovered.seq > deleted.seq)
  await assert.rejects(release(A), code('STATE_NOT_COMMITTED'))
  assert.equal((await commitState(A, [B, C])).committed, true)
  // The job was charged before the recovery: the erased history may have released it, so A does not.
  await assert.rejects(release(A), code('STATE_ROLLED_BACK'))
  await A.restart()
  assert.equal((await A.call<{ status: string }>('resume', { reports: await peerReports(A, [B, C]) })).status, 'fresh')
})
