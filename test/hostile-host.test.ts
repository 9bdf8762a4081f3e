/**
 * Issue 8 attacks mounted by a lying host against the real enclave process (test/hostile-host.ts):
 * one process is both the keeper (it holds the custody state and releases the key) and the job's
 * worker (it runs the job from that release), as a worker with both roles is. The dataset is real:
 * Parquet segments sealed with its DEK, served by an in-test trustless gateway; the job runs end
 * to end (release, fetch, decrypt, query, seal to the analyst, sign).
 */
import assert from 'node:assert/strict'
import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { bytesToHex, hexToBytes, recoverMessageAddress, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { DATASET_SQL, POLICY } from '../src/analysis/fixture.test.js'
import { analysisHash, epsilonMicros, openAsAnalyst, parseOutput, privacyParamsHash, sealAnalysis, type AnalysisRequest, type PrivacyParams, type ResultEnvelope } from '../src/analysis/index.js'
import { failureDigest, inputCidsHashFor, type InboxEntry } from '../src/chain/index.js'
import { isW3aError } from '../src/core/errors.js'
import { deriveAnalystResultKey } from '../src/crypto/analyst-result-key.js'
import { encryptSegmentStream, generateDatasetKey } from '../src/crypto/envelope.js'
import { datasetIdFor, dekHash, signOwnerCommand, type OwnerCommand } from '../src/crypto/typed-commands.js'
import { ZERO_HASH, encodeJobCharge, commandHash, keeperSetHash, nextInboxHead, policyHash, sealCommand, type CustodyPolicy } from '../src/custody/index.js'
import type { JobView } from '../src/enclave/job-view.js'
import type { ReleaseOutcome, WorkerOnChain } from '../src/enclave/jobs.js'
import { refusalVoteDigest, type RefusalQuorum } from '../src/enclave/refusal-quorum.js'
import { serveHttp, type HttpServer } from '../src/node/http-server.js'
import { createMemoryBlockstore, createTrustlessGateway, importBytes, putManifest, writeParquetSegments, type DatasetManifest } from '../src/storage/index.js'
import { sqlString, withSandboxedDuckDb } from '../src/storage/duckdb-sandbox.js'
import { attestIdentity, createEnclaveIdentity, createSimEnclave } from '../src/tee/index.js'
import { TEST_NETWORK, startHostileHost, testEnclaveBoot, type HostileHost } from './hostile-host.js'

const { chainId: CHAIN_ID, registry: REGISTRY, inbox: INBOX, jobs: JOBS } = TEST_NETWORK
const RELAYER: Address = '0x00000000000000000000000000000000000000aa'
const T0 = 1_750_000_000n

const owner = privateKeyToAccount(`0x${'11'.repeat(32)}`)
const analyst = privateKeyToAccount(`0x${'22'.repeat(32)}`)
const request = async (sql: string): Promise<AnalysisRequest> => ({ v: 1, kind: 'sql', sql, resultKey: bytesToHex((await deriveAnalystResultKey({ account: analyst, chainId: CHAIN_ID })).publicKey) })
const privacy: PrivacyParams = { epsilon: 1 }

let work: string
let gateway: HttpServer
let host: HostileHost
let manifestCid: string
let datasetId: Hex

/** The upload path in small: Parquet segments sealed with the DEK, a manifest, all served by a trustless gateway. */
async function uploadDataset(dek: Uint8Array, id: Hex): Promise<string> {
  const source = join(work, 'table.parquet')
  await withSandboxedDuckDb({ dirs: [work] }, (c) => c.run(`COPY (${DATASET_SQL}) TO ${sqlString(source)} (FORMAT parquet)`))
  const plain = join(work, 'plain')
  await mkdir(plain)
  const written = await writeParquetSegments(source, { outDir: plain, rowsPerSegment: 1000 })
  const blocks = createMemoryBlockstore()
  const segments: DatasetManifest['segments'] = []
  for (const [segmentIndex, seg] of written.segments.entries()) {
    const imported = await importBytes(blocks, encryptSegmentStream({ key: dek, context: { datasetId: id, segmentIndex } }, createReadStream(seg.path)))
    segments.push({ cid: imported.cid, rows: seg.rows, size: imported.size })
  }
  const filler = new Uint8Array(32).fill(1)
  const cid = await putManifest(blocks, {
    version: 1,
    datasetId: id,
    name: 'hostile-host',
    format: 'parquet',
    schema: { columns: written.columns },
    privacyUnit: 'uid',
    rows: written.rows,
    segments,
    envelope: { version: 1, cipher: 'AES-256-GCM', chunkSize: 256 * 1024, kdf: 'HKDF-SHA256' },
    keyWraps: [{ kind: 'owner', suite: 'test', recipient: filler, enc: filler, ciphertext: filler }],
    createdAt: new Date(0).toISOString(),
  })
  const serve = createTrustlessGateway(blocks)
  gateway = await serveHttp(async (req) => (await serve(req)) ?? new Response('not found', { status: 404 }), { port: 0 })
  return cid.toString()
}

/** The chain side the host relays: inbox entries with their hash chain, one block each. */
class Inbox {
  readonly entries: InboxEntry[] = []
  private head: Hex = ZERO_HASH
  private block = 1n

  post(sender: Address, epoch: bigint, ciphertext: Uint8Array): InboxEntry {
    const index = BigInt(this.entries.length)
    this.head = nextInboxHead(this.head, { index, sender, epoch, ciphertext }, commandHash(ciphertext))
    const entry: InboxEntry = { index, sender, epoch, ciphertext: bytesToHex(ciphertext), head: this.head, blockNumber: this.block, timestamp: T0 + this.block * 12n }
    this.block += 1n
    this.entries.push(entry)
    return entry
  }
}

async function ownerCommand(inbox: Inbox, epochPublicKey: Hex, command: OwnerCommand, extra: { dek?: Uint8Array; policy?: CustodyPolicy } = {}): Promise<InboxEntry> {
  const signed = await signOwnerCommand({ account: owner, domain: { chainId: CHAIN_ID, verifyingContract: INBOX }, command })
  return inbox.post(RELAYER, 0n, await sealCommand({ epochPublicKey: hexToBytes(epochPublicKey), epoch: 0n, chainId: CHAIN_ID, inbox: INBOX, signed, ...extra }))
}

function charge(inbox: Inbox, jobId: bigint, c: { analysisHash: Hex; privacyParamsHash: Hex; epsilonMicros: bigint }): InboxEntry {
  return inbox.post(JOBS, 0n, encodeJobCharge({ jobId, analyst: analyst.address, datasetId, ...c, admitted: false }))
}

type Job = { view: JobView; sealedAnalysis: Hex }
let jobs: Job[]
const me = (): WorkerOnChain => ({ address: host.info.address, hpkePublicKey: host.info.hpkePublicKey, isCompute: true, eligible: true, measurementAllowed: true })
const releaseFor = (job: Job, worker: WorkerOnChain = me(), quote: Hex = host.info.quote) =>
  host.call<ReleaseOutcome>('releaseJob', { job: { ...job.view, worker: worker.address }, worker, quote, sealedAnalysis: job.sealedAnalysis })
/** A refusal's terms, without the keeper's signed statement (checked in the attack 3 test). */
const terms = (o: ReleaseOutcome) => (o.ok ? o : { ok: o.ok, reason: o.reason, retry: o.retry })
/** A restart on the same sealed files: a lone keeper verifies itself (no peer witnessed it: the documented residual). */
const restart = async () => {
  await host.restart()
  await host.call('resume', { reports: [] })
}
const runJob = (job: Job, release: { sealed: { enc: Hex; ciphertext: Hex } } | { refused: string | RefusalQuorum | Record<string, unknown> }) =>
  host.call<{ envelope: ResultEnvelope }>('runJob', { job: job.view, release })

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'w3a-hostile-host-'))
  const salt = bytesToHex(new Uint8Array(32).fill(7))
  datasetId = datasetIdFor(owner.address, salt)
  const dek = generateDatasetKey()
  manifestCid = await uploadDataset(dek, datasetId)
  const config = testEnclaveBoot(join(work, 'node'), { gatewayUrl: gateway.url.replace(/\/+$/, ''), epochLength: '100' })
  host = await startHostileHost(config)
  const { publicKey } = await host.call<{ publicKey: Hex }>('bootstrapCluster', { epoch: 0n })

  const inbox = new Inbox()
  const exp = T0 + 1_000_000n
  await ownerCommand(inbox, publicKey, { type: 'RegisterDataset', message: { datasetId, salt, manifestCid, sealedKeyHash: dekHash(dek), nonce: 1n, expiry: exp } }, { dek })
  await ownerCommand(inbox, publicKey, { type: 'Grant', message: { datasetId, grantee: analyst.address, expiresAt: 0n, uses: 0, nonce: 2n, expiry: exp } })
  await ownerCommand(inbox, publicKey, { type: 'SetPolicy', message: { datasetId, policyHash: policyHash(POLICY), nonce: 3n, expiry: exp } }, { policy: POLICY })
  const key = await host.call<{ epoch: bigint; publicKey: Hex }>('analysisKey')
  jobs = []
  // Job 3 asks for ε 20, over the policy's budget of 10: its charge is refused, so the keeper refuses its release.
  const specs: [string, PrivacyParams][] = [
    ['SELECT region, count(*) AS n FROM data GROUP BY region ORDER BY region', privacy],
    ['SELECT device, count(*) AS n FROM data GROUP BY device ORDER BY device', privacy],
    ['SELECT plan, count(*) AS n FROM data GROUP BY plan ORDER BY plan', { epsilon: 20 }],
  ]
  for (const [i, [sql, privacy]] of specs.entries()) {
    const req = await request(sql)
    const committed = { analysisHash: analysisHash(req), privacyParamsHash: privacyParamsHash(privacy), epsilonMicros: epsilonMicros(privacy) }
    const jobId = BigInt(i + 1)
    charge(inbox, jobId, committed)
    const sealed = await sealAnalysis({ chainId: CHAIN_ID, jobs: JOBS, analysisPublicKey: hexToBytes(key.publicKey), epoch: key.epoch, request: req, privacy })
    jobs.push({ view: { id: jobId, status: 'open', analyst: analyst.address, worker: host.info.address, datasetId, inputCidsHash: inputCidsHashFor(manifestCid), ...committed }, sealedAnalysis: bytesToHex(sealed) })
  }
  const applied = await host.call<{ receipts: { status: string }[] }>('applyEntries', { entries: inbox.entries, headEpoch: 0n })
  assert.deepEqual(applied.receipts.map((r) => r.status), ['applied', 'applied', 'applied', 'applied', 'applied', 'refused'])
})

after(async () => {
  await host?.stop()
  await gateway?.close()
  await rm(work, { recursive: true, force: true })
})

async function analystReads(envelope: ResultEnvelope, jobId: bigint) {
  assert.equal(envelope.status, 'completed')
  if (envelope.status !== 'completed') throw new Error('not completed')
  const key = await deriveAnalystResultKey({ account: analyst, chainId: CHAIN_ID })
  const pt = await openAsAnalyst({ chainId: CHAIN_ID, jobs: JOBS, jobId, worker: host.info.address, privateKey: key.privateKey, enc: hexToBytes(envelope.output.enc), ciphertext: hexToBytes(envelope.output.ciphertext) })
  return parseOutput(pt, envelope.outputHash)
}

describe('a hostile host against the real enclave process', () => {
  it('replay: the same job run again gives back the identical signed outcome; a forged refusal cannot turn it into a failure; after jobDone it is refused, also after a restart', async () => {
    const job = jobs[0]!
    const released = await releaseFor(job)
    assert.equal(released.ok, true)
    if (!released.ok) return
    const first = (await runJob(job, { sealed: released.sealed })).envelope
    const output = await analystReads(first, job.view.id)
    assert.deepEqual(output.columns.map((c) => c.name), ['region', 'n'])
    assert.ok(output.rows.length > 0)

    // (a) Run it again with the same release, and with a fresh one: the first signed outcome, byte for byte.
    assert.deepEqual((await runJob(job, { sealed: released.sealed })).envelope, first)
    const again = await releaseFor(job)
    assert.equal(again.ok, true)
    if (again.ok) assert.deepEqual((await runJob(job, { sealed: again.sealed })).envelope, first)
    // (b) The host says the keeper refused for budget: the enclave still answers with its success.
    assert.deepEqual((await runJob(job, { refused: 'budget-exhausted' })).envelope, first)

    // A restart keeps the pending outcome (sealed on disk), and the transaction it signs is that outcome's.
    await restart()
    assert.deepEqual((await runJob(job, { refused: 'budget-exhausted' })).envelope, first)
    await assert.rejects(host.call('signOwnTx', { kind: 'submitFailure', jobId: job.view.id, nonce: 0, gas: 100_000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
    await host.call('signOwnTx', { kind: 'submitResult', jobId: job.view.id, nonce: 0, gas: 100_000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n })

    // Mined: the job is final for this worker, before and after a restart.
    await host.call('jobDone', { jobId: job.view.id })
    await assert.rejects(runJob(job, { sealed: released.sealed }), (e) => isW3aError(e, 'JOB_ALREADY_RUN'))
    await assert.rejects(runJob(job, { refused: 'budget-exhausted' }), (e) => isW3aError(e, 'JOB_ALREADY_RUN'))
    await restart()
    await assert.rejects(runJob(job, { sealed: released.sealed }), (e) => isW3aError(e, 'JOB_ALREADY_RUN'))
    await assert.rejects(host.call('signOwnTx', { kind: 'submitResult', jobId: job.view.id, nonce: 1, gas: 100_000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
  })

  it('the keeper releases a job to at most the chain’s two workers, whatever job view the host shows, also after a restart', async () => {
    const job = jobs[1]!
    const attested = async (label: string): Promise<{ onChain: WorkerOnChain; quote: Hex }> => {
      const identity = await createEnclaveIdentity()
      // Other workers of the same network: the same code and measured config, so the same measurement.
      const backend = createSimEnclave({ measurement: host.info.measurement, platformSecretFile: join(work, `${label}.key`) })
      const { quote } = await attestIdentity({ backend, identity, chainId: CHAIN_ID, registry: REGISTRY })
      return { onChain: { address: identity.signer.address, hpkePublicKey: bytesToHex(identity.hpke.publicKey), isCompute: true, eligible: true, measurementAllowed: true }, quote: bytesToHex(quote) }
    }
    const [second, third] = [await attested('second'), await attested('third')]
    assert.equal((await releaseFor(job)).ok, true)
    assert.equal((await releaseFor(job, second.onChain, second.quote)).ok, true) // the chain's one reassignment
    assert.deepEqual(terms(await releaseFor(job, third.onChain, third.quote)), { ok: false, reason: 'released-to-other-workers', retry: false })
    await restart()
    assert.deepEqual(terms(await releaseFor(job, third.onChain, third.quote)), { ok: false, reason: 'released-to-other-workers', retry: false })
    assert.equal((await releaseFor(job)).ok, true)
    // A host showing the job as finished gets nothing either (but that check is on its word).
    assert.deepEqual(terms(await host.call<ReleaseOutcome>('releaseJob', { job: { ...job.view, status: 'completed' }, worker: me(), quote: host.info.quote, sealedAnalysis: job.sealedAnalysis })), { ok: false, reason: 'job-not-open', retry: false })
  })

  it('attack 3: the enclave signs a failure only on a keeper quorum’s signed refusal of this job to this worker, never on the host’s word', async () => {
    const job = jobs[2]! // charged and refused for budget; not run by this worker yet
    const other: Job = { ...job, view: { ...job.view, id: 4n } } // a job this worker has not run either
    const unverified = (e: unknown) => isW3aError(e, 'REFUSAL_UNVERIFIED')

    // The keeper's genuine refusal: final, with its refusal quorum (a set of one: its own vote, with its quote).
    const refused = await releaseFor(job)
    assert.equal(refused.ok, false)
    if (refused.ok) return
    assert.equal(refused.reason, 'budget-exhausted')
    assert.equal(refused.retry, false)
    const genuine = refused.refusal
    assert.ok(genuine)
    assert.equal(genuine.failure, 'budget-exhausted')
    assert.deepEqual(genuine.keepers.map((k) => k.address), [host.info.address.toLowerCase()])
    assert.deepEqual(genuine.votes.map((v) => [v.keeper, v.quote]), [[host.info.address, host.info.quote]])
    // A refusal to be retried carries no statement: nothing the host could replay as final.
    const notCharged = await releaseFor({ ...job, view: { ...job.view, id: 9n } })
    assert.deepEqual(notCharged, { ok: false, reason: 'not-charged', retry: true })

    // (a) A bare reason, or a single statement without a quorum: the host's word.
    await assert.rejects(runJob(job, { refused: 'budget-exhausted' }), unverified)
    await assert.rejects(runJob(job, { refused: 'internal' }), unverified)
    await assert.rejects(host.call('runJob', { job: job.view, release: { refused: { reason: 'budget-exhausted' } } }), unverified)
    await assert.rejects(runJob(job, { refused: { ...genuine.votes[0]!, reason: 'budget-exhausted' } }), unverified)

    // (b) Votes by a key with no valid quote: one that binds another key (the keeper's own), and
    // a sim quote of its own but for code this enclave's policy does not allow; the forger names a set of itself.
    const forger = await createEnclaveIdentity()
    const forge = async (quote: Hex, failure = 'budget-exhausted', jobId = job.view.id): Promise<RefusalQuorum> => {
      const now = BigInt(Math.floor(Date.now() / 1000)) // registered just now: only its quote can fail it
      const keepers = [{ address: forger.signer.address.toLowerCase() as Address, attestedAt: String(now) }]
      const digest = refusalVoteDigest({ chainId: CHAIN_ID, jobs: JOBS, registry: REGISTRY, jobId, worker: host.info.address, failure, epoch: 0n, keeperSetHash: keeperSetHash([{ address: keepers[0]!.address, attestedAt: now }]), challenge: genuine.challenge })
      const vote = { keeper: forger.signer.address, hpkePublicKey: bytesToHex(forger.hpke.publicKey), quote, signature: await forger.signer.signMessage({ message: { raw: digest } }) }
      return { v: 2, failure: failure as RefusalQuorum['failure'], reason: failure, epoch: '0', challenge: genuine.challenge, keepers, votes: [vote] }
    }
    await assert.rejects(runJob(job, { refused: await forge(host.info.quote) }), unverified)
    const otherCode = createSimEnclave({ measurement: `0x${'ee'.repeat(32)}`, platformSecretFile: join(work, 'forger.key') })
    const { quote: otherQuote } = await attestIdentity({ backend: otherCode, identity: forger, chainId: CHAIN_ID, registry: REGISTRY })
    await assert.rejects(runJob(job, { refused: await forge(bytesToHex(otherQuote)) }), unverified)
    // The forger's signature under the keeper's name and quote.
    const forgedVote = (await forge(host.info.quote)).votes[0]!
    await assert.rejects(runJob(job, { refused: { ...genuine, votes: [{ ...genuine.votes[0]!, signature: forgedVote.signature }] } }), unverified)

    // (c) The keepers' genuine quorum, but not of this job, or with another failure, set, epoch or challenge than they signed.
    await assert.rejects(runJob(other, { refused: genuine }), unverified)
    await assert.rejects(runJob(job, { refused: { ...genuine, failure: 'access-denied' } }), unverified)
    await assert.rejects(runJob(job, { refused: { ...genuine, keepers: genuine.keepers.map((k) => ({ ...k, attestedAt: String(BigInt(k.attestedAt) + 1n) })) } }), unverified)
    await assert.rejects(runJob(job, { refused: { ...genuine, epoch: String(BigInt(genuine.epoch) + 1n) } }), unverified)
    await assert.rejects(runJob(job, { refused: { ...genuine, challenge: `0x${'00'.repeat(32)}` } }), unverified)
    // (d) A release that does not open is the host's doing: no 'internal' failure for it either.
    await assert.rejects(runJob(other, { sealed: { enc: `0x${'01'.repeat(32)}`, ciphertext: `0x${'02'.repeat(48)}` } }), (e) => isW3aError(e, 'HPKE_OPEN_FAILED'))

    // Nothing was recorded by the refused attempts: no transaction to sign for either job.
    for (const id of [job.view.id, other.view.id]) {
      await assert.rejects(host.call('signOwnTx', { kind: 'submitFailure', jobId: id, nonce: 0, gas: 100_000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
    }

    // The genuine refusal quorum gives the signed failure, by the worker key, over this job.
    const { envelope } = await runJob(job, { refused: genuine })
    assert.equal(envelope.status, 'failed')
    if (envelope.status !== 'failed') return
    assert.equal(envelope.report.reason, 'budget-exhausted')
    const digest = failureDigest({ chainId: CHAIN_ID, jobs: JOBS, jobId: job.view.id, inputCidsHash: job.view.inputCidsHash, analysisHash: job.view.analysisHash, privacyParamsHash: job.view.privacyParamsHash, reasonCode: envelope.report.reasonCode, reasonHash: envelope.reasonHash })
    assert.equal(await recoverMessageAddress({ message: { raw: digest }, signature: envelope.signature }), host.info.address)
    await host.call('signOwnTx', { kind: 'submitFailure', jobId: job.view.id, nonce: 0, gas: 100_000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n })
  })

  it('giving up: the host gets a signed worker-unavailable failure (a refund) only for a job the enclave never ran, and the job is never run after it', async () => {
    const job = jobs[1]! // released in the test above, never run
    const released = await releaseFor(job)
    assert.equal(released.ok, true)
    const { envelope } = await host.call<{ envelope: ResultEnvelope }>('abandonJob', { job: job.view })
    assert.equal(envelope.status, 'failed')
    if (envelope.status !== 'failed') return
    assert.equal(envelope.report.reason, 'worker-unavailable')
    assert.equal(envelope.report.detail, undefined) // nothing sealed to the analyst: the job saw no data
    const digest = failureDigest({ chainId: CHAIN_ID, jobs: JOBS, jobId: job.view.id, inputCidsHash: job.view.inputCidsHash, analysisHash: job.view.analysisHash, privacyParamsHash: job.view.privacyParamsHash, reasonCode: envelope.report.reasonCode, reasonHash: envelope.reasonHash })
    assert.equal(await recoverMessageAddress({ message: { raw: digest }, signature: envelope.signature }), host.info.address)
    // With a genuine release in hand afterwards, and after a restart, the enclave does not run it: the same failure comes back.
    if (released.ok) assert.deepEqual((await runJob(job, { sealed: released.sealed })).envelope, envelope)
    await restart()
    if (released.ok) assert.deepEqual((await runJob(job, { sealed: released.sealed })).envelope, envelope)
    assert.deepEqual((await host.call<{ envelope: ResultEnvelope }>('abandonJob', { job: job.view })).envelope, envelope)
    // A job whose result is on chain cannot be given up into a refund.
    await assert.rejects(host.call('abandonJob', { job: jobs[0]!.view }), (e) => isW3aError(e, 'JOB_ALREADY_RUN'))
  })
})
