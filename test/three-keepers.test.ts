/**
 * Issue 8, "a devnet with three keepers, one of them hostile": Anvil, the contracts, the gateway
 * and keeper 1 from `startDevnet` (its host a process of its own), keeper 2 (an honest host in
 * this process) and keeper 3, whose host is hostile: a process of its own
 * (test/hostile-keeper-host.ts) that records everything it sees (every enclave call and reply,
 * every HTTP exchange, every file of its data directory as it changes) and attacks while the
 * network runs. Owners upload, set policies, list, grant, revoke and delete; analysts buy credits
 * and query, and round-robin assignment gives each keeper a job. Everything works with three
 * keepers agreeing on epoch keys and state roots, and the hostile host learns no dataset key,
 * no cell of the uploaded files and no cluster secret. Last, keeper 3 exits on chain and the
 * other two remove it from the custody keeper set; jobs go on with a quorum of the two.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, mkdtempSync, writeFileSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { randomBytes } from 'node:crypto'
import { bytesToHex, hexToBytes, numberToHex, type Address, type Hex } from 'viem'
import { startDevnet, type RunningDevnet } from '../src/node/up.js'
import { startWorker, type RunningWorker } from '../src/node/worker/worker-host.js'
import { createChainClients, devAccount, requestWorkerExit, getCurrentEpoch, getEpochKey, getEpochKeyVote, getRegistryParams, getStateRoots, inputCidsHashFor, readInbox, type ChainPublicClient } from '../src/chain/index.js'
import { buyCredits, createW3aClient, deleteDataset, grantAccess, listOnMarket, revokeAccess, runQuery, setBuyerAccess, setDatasetPolicy, uploadDataset, verifyJob, type W3aClient } from '../src/sdk/index.js'
import { fetchManifest } from '../src/sdk/actions/downloadDataset.js'
import { deriveOwnerWrapKey, unwrapDatasetKey } from '../src/crypto/owner-wrap-key.js'
import { EpochKeyring, encodeJobCharge, commandHash, epochKeyPair, nextEpochSecret, nextInboxHead, parsePolicy } from '../src/custody/index.js'
import { analysisHash, epsilonMicros, privacyParamsHash, sealAnalysis, type AnalysisRequest, type PrivacyParams } from '../src/analysis/index.js'
import { deriveAnalystResultKey } from '../src/crypto/analyst-result-key.js'
import { createSimEnclave, readSealedFile } from '../src/tee/index.js'
import type { ReleaseOutcome, WorkerOnChain } from '../src/enclave/jobs.js'
import type { EnclaveInfo } from '../src/enclave/service.js'
import { W3aError, isW3aError } from '../src/core/errors.js'
import { forkHostileKeeper, type HostileKeeper } from './hostile-keeper.js'
import { versionedSealedFile } from './sealed-files.js'

const TOKEN = 10n ** 18n
const K = 5
/** Codes other branches add (quorum, rollback): by string, so this compiles before they land. */
const codeIs = (e: unknown, ...codes: string[]) => e instanceof W3aError && codes.includes(e.code)
const work = mkdtempSync(join(tmpdir(), 'w3a-three-keepers-'))
const keeper2Dir = join(work, 'keeper-2')
const hostileDir = join(work, 'keeper-3')
const ownerA = devAccount(2)
const ownerB = devAccount(3)
const analystAccount = devAccount(4)
let devnet: RunningDevnet
let publicClient: ChainPublicClient
let keeper2: RunningWorker
let hostile: HostileKeeper
let hostileInfo: { address: Address; url: string; info: EnclaveInfo }
let epochLength: bigint
const keeperUrls = () => [devnet.workers[0]!.url, keeper2.url, hostileInfo.url]
const keeperAddresses = () => [devnet.workers[0]!.address, keeper2.address, hostileInfo.address]

/** Cells no one can guess: a random 16-hex token per row, and per-user ids. */
type Row = { user_id: string; city: string; token: string; amount: number }
function makeRows(prefix: string): Row[] {
  const cities = ['Lisbon', 'Nairobi', 'Osaka']
  return Array.from({ length: 124 }, (_, i) => {
    const user = i >> 1 // two rows per user; users 60 and 61 live in Rare, below k
    return { user_id: `${prefix}-${user}`, city: user >= 60 ? 'Rare' : cities[user % 3]!, token: randomBytes(8).toString('hex'), amount: (i * 37) % 100 }
  })
}
const rowsA = makeRows('ua')
const rowsB = makeRows('ub')
function writeCsv(name: string, rows: Row[]): string {
  const file = join(work, name)
  writeFileSync(file, ['user_id,city,token,amount', ...rows.map((r) => `${r.user_id},${r.city},${r.token},${r.amount}`)].join('\n') + '\n')
  return file
}
// Exact answers opted in: the jobs' outputs are compared with the rows themselves.
const policy = (openAccess: boolean) => parsePolicy({ k: K, epsilonBudget: 20, analystEpsilonBudget: 15, openAccess, allowExact: true, exactQueries: 100, columns: { identifiers: ['user_id', 'token'], dimensions: ['city'], measures: ['amount'] } })
const totalOf = (rows: Row[]) => String(rows.reduce((s, x) => s + x.amount, 0))

type KeeperInfo = { measurement: Hex; keeper: { processed: string; stateRoot: Hex; hasClusterSecret: boolean } }
const info = async (url: string): Promise<KeeperInfo> => (await (await fetch(`${url}/v1/info`)).json()) as KeeperInfo

/** Waits until all three keepers have applied every inbox entry; returns their roots. */
async function settle(): Promise<Hex[]> {
  const count = BigInt((await readInbox(publicClient, { inbox: devnet.contracts.custodyInbox })).length)
  await keeper2.syncNow()
  for (let i = 0; i < 150; i++) {
    const infos = await Promise.all(keeperUrls().map(info))
    if (infos.every((x) => BigInt(x.keeper.processed) === count)) return infos.map((x) => x.keeper.stateRoot)
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error('keepers did not catch up')
}

/** Mines into the next epoch; waits until all three keepers voted for its key and published its root. */
async function nextEpoch(): Promise<{ epoch: bigint; key: Hex }> {
  await publicClient.request({ method: 'anvil_mine' as never, params: [numberToHex(epochLength)] as never })
  const registry = devnet.contracts.workerRegistry
  const epoch = await getCurrentEpoch(publicClient, { registry })
  await settle()
  for (let i = 0; i < 150; i++) {
    const roots = await getStateRoots(publicClient, { registry, epoch })
    const key = await getEpochKey(publicClient, { registry, epoch })
    const votes = await Promise.all(keeperAddresses().map((keeper) => getEpochKeyVote(publicClient, { registry, epoch, keeper })))
    if (roots.length === 3 && key && votes.every((v) => v !== null)) {
      // Each keeper's enclave derived the same key on its own: agreed 3 of 3, one state root.
      for (const v of votes) assert.deepEqual(v, { key, votes: 3n })
      assert.equal(new Set(roots.map((r) => r.root)).size, 1, 'the three keepers published one state root')
      return { epoch, key }
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`epoch ${epoch}: the three keepers did not all vote and publish`)
}

/** Every secret the cluster had from `from` on: S_e, its HPKE private key and its analysis seed, per epoch. */
let clusterStart: { epoch: bigint; secret: Uint8Array }
async function clusterSecrets(toEpoch: bigint): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  let s = clusterStart.secret
  for (let e = clusterStart.epoch; e <= toEpoch; e++) {
    out.push(s, (await epochKeyPair(s)).privateKey, new EpochKeyring(e, s).analysisSeed())
    s = nextEpochSecret(s)
  }
  return out
}

/** Which of `needles` appear in `hay` as bytes, lowercase hex, or base64 (each form a string in a transcript or file). */
function found(hay: Buffer, needles: Uint8Array[]): string[] {
  const lower = Buffer.from(hay.toString('latin1').toLowerCase(), 'latin1')
  return needles.flatMap((n) => {
    const b = Buffer.from(n)
    const forms = [b, Buffer.from(b.toString('hex')), Buffer.from(b.toString('base64').replace(/=+$/, '')), Buffer.from(b.toString('base64url').replace(/=+$/, ''))]
    return forms.some((f, i) => (i === 1 ? lower : hay).includes(f)) ? [b.toString('hex')] : []
  })
}
const tokensOf = (rows: Row[]) => rows.map((r) => new TextEncoder().encode(r.token))
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? filesUnder(join(dir, n)) : [join(dir, n)]))
}

let owner: W3aClient
let owner2: W3aClient
let analyst: W3aClient
let datasetA: Hex
let datasetB: Hex
let manifestCidA: string
const deks: Uint8Array[] = []
let snapshotDir: string

before(async () => {
  devnet = await startDevnet({ dataDir: join(work, 'devnet'), port: 0 })
  publicClient = createChainClients({ rpcUrl: devnet.rpcUrl, chainId: devnet.chainId }).publicClient
  epochLength = (await getRegistryParams(publicClient, { registry: devnet.contracts.workerRegistry })).epochLength
  // What the test looks for later: keeper 1's cluster secret, read from its sealed keyring (the
  // test holds the sim platform key; the ratchet gives every later epoch's secret).
  const { measurement } = await info(devnet.workers[0]!.url)
  const k1 = join(work, 'devnet', 'worker-0')
  const sealingKey = await createSimEnclave({ measurement, platformSecretFile: join(k1, 'sim-platform.key') }).sealingKey()
  const exported = readSealedFile(versionedSealedFile(k1, 'keyring'), sealingKey, 'w3a/enclave/keyring/v1')
  clusterStart = { epoch: EpochKeyring.import(exported).epoch, secret: exported.slice(-32) }

  keeper2 = await startWorker({ dataDir: keeper2Dir, tee: 'sim', keeper: true, rpcUrl: devnet.rpcUrl, gatewayUrl: devnet.gatewayUrl, contracts: { chainId: devnet.chainId, ...devnet.contracts }, operator: devAccount(1), dev: true, pollMs: 300 })
  hostile = await forkHostileKeeper({ dataDir: hostileDir, transcriptFile: join(work, 'keeper-3.transcript.jsonl'), rpcUrl: devnet.rpcUrl, gatewayUrl: devnet.gatewayUrl, contracts: { chainId: devnet.chainId, ...devnet.contracts }, operatorAccount: 5 })
  hostileInfo = await hostile.start()
  owner = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: ownerA })
  owner2 = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: ownerB })
  analyst = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: analystAccount })
})

after(async () => {
  await hostile?.kill()
  await keeper2?.stop()
  await devnet?.stop()
  rmSync(work, { recursive: true, force: true })
})

test('three keepers: both newcomers got the cluster secret by hand-over; across an epoch boundary all three vote the same key and root', async () => {
  for (const url of keeperUrls()) assert.equal((await info(url)).keeper.hasClusterSecret, true)
  const [r1, r2, r3] = await settle()
  assert.equal(r2, r1)
  assert.equal(r3, r1)
  await nextEpoch()
})

test('owners upload and set policies, the market lists, analysts buy credits and query: each of the three keepers runs a job', async () => {
  const upA = await uploadDataset(owner, { file: writeCsv('a.csv', rowsA), name: 'visits-a', privacyUnit: 'user_id' })
  const upB = await uploadDataset(owner2, { file: writeCsv('b.csv', rowsB), name: 'visits-b', privacyUnit: 'user_id' })
  datasetA = upA.id
  datasetB = upB.id
  manifestCidA = upA.manifestCid
  // The owners can unwrap their dataset keys: the test knows what must never reach keeper 3's host.
  for (const [client, account, id] of [[owner, ownerA, datasetA], [owner2, ownerB, datasetB]] as const) {
    const cid = (await client.gateway.getJson<{ dataset: { manifestCid: string } }>(`/api/v1/datasets/${id}`)).dataset.manifestCid
    const wrap = (await fetchManifest(client, cid)).keyWraps[0]!
    const wrapKey = await deriveOwnerWrapKey({ account, chainId: devnet.chainId })
    deks.push(await unwrapDatasetKey({ recipientPrivateKey: wrapKey.privateKey, datasetId: id, enc: wrap.enc, ciphertext: wrap.ciphertext }))
  }
  await setDatasetPolicy(owner, { id: datasetA, policy: policy(true) })
  await setDatasetPolicy(owner2, { id: datasetB, policy: policy(false) })
  await listOnMarket(owner, { id: datasetA, price: TOKEN, summary: `k=${K}; open` })
  await listOnMarket(owner2, { id: datasetB, price: TOKEN, summary: `k=${K}; grants only` })
  await buyCredits(analyst, { id: datasetA, credits: 5n })
  // Grants only: the owner admits the analyst to buy (Market.mayBuy), then withdraws the admission, so custody's grants decide each query.
  await setBuyerAccess(owner2, { id: datasetB, admit: [analystAccount.address] })
  await buyCredits(analyst, { id: datasetB, credits: 3n })
  await setBuyerAccess(owner2, { id: datasetB, remove: [analystAccount.address] })
  // Keeper 3's sealed files as they are now: restored later by its host (rollback attack).
  snapshotDir = join(work, 'keeper-3-snapshot')
  cpSync(join(hostileDir, 'enclave'), snapshotDir, { recursive: true, filter: (src) => !src.includes(`${join('enclave', 'jobs')}`) })

  // Three queries, round-robin over three workers: one job each.
  const sql = 'SELECT count(*) AS n, sum(amount) AS total FROM data'
  const ran = new Set<string>()
  for (let i = 0; i < 3; i++) {
    const r = await runQuery(analyst, { id: datasetA, sql, epsilon: 0 })
    assert.deepEqual(r.rows, [[String(rowsA.length), totalOf(rowsA)]])
    assert.equal(r.privacy.suppressed, null)
    const v = await verifyJob(analyst, { id: r.jobId })
    assert.equal(v.job.status, 'completed')
    ran.add(r.worker.toLowerCase())
  }
  assert.deepEqual([...ran].sort(), keeperAddresses().map((a) => a.toLowerCase()).sort(), 'each keeper ran one job')
})

test('grants and revokes: a closed dataset answers only while the grant holds', async () => {
  const sql = 'SELECT sum(amount) AS total FROM data'
  // ε named (0, exact), so the job goes out and custody refuses its charge; with none the client would ask a keeper first and be refused there.
  await assert.rejects(runQuery(analyst, { id: datasetB, sql, epsilon: 0 }), (e) => isW3aError(e, 'JOB_FAILED') && /access-denied/.test(e.message))
  const g = await grantAccess(owner2, { id: datasetB, grantee: analystAccount.address, uses: 5 })
  assert.equal(g.receipt.status, 'applied')
  const r = await runQuery(analyst, { id: datasetB, sql, epsilon: 0 })
  assert.deepEqual(r.rows, [[totalOf(rowsB)]])
  await revokeAccess(owner2, { id: datasetB, grantee: analystAccount.address })
  await assert.rejects(runQuery(analyst, { id: datasetB, sql, epsilon: 0 }), (e) => isW3aError(e, 'JOB_FAILED') && /access-denied/.test(e.message))
  const [r1, r2, r3] = await settle()
  assert.deepEqual([r2, r3], [r1, r1])
})

test('delete: all three keepers apply it; after the next epoch a grant is refused and keys are still agreed', async () => {
  const del = await deleteDataset(owner2, { id: datasetB })
  assert.equal(del.alreadyDeleted, false)
  assert.equal(del.receipt.status, 'applied')
  await nextEpoch()
  await assert.rejects(grantAccess(owner2, { id: datasetB, grantee: analystAccount.address }), (e) => isW3aError(e, 'COMMAND_REFUSED') && /dataset-deleted/.test(e.message))
  const [r1, r2, r3] = await settle()
  assert.deepEqual([r2, r3], [r1, r1])
})

test('keeper 3’s hostile host mounted its attacks: each ended in a refusal, and its enclave adopted no secret of the host', async () => {
  const attacks = hostile.attacks()
  const named = (prefix: string) => attacks.filter((a) => a.name.startsWith(prefix))
  // Each refused for what it forged: a signature that is not the named keeper's, a quote that binds another key.
  const hijacks = named('handover-hijack')
  assert.deepEqual(hijacks.map((a) => a.name), ['handover-hijack: host secret, named from keeper 1', 'handover-hijack: host secret, own signature, keeper 1 quote'])
  for (const [a, why] of hijacks.map((a, i) => [a, [/not signed by the keeper it names/, /quote refused/][i]!] as const)) {
    assert.equal(a.ok, false, a.name)
    assert.equal(a.error?.code, 'HANDOVER_REFUSED', a.name)
    assert.match(a.error!.message, why, a.name)
    assert.equal(a.adopted, false, `${a.name}: the enclave holds no cluster secret after it`)
  }
  // Its genuine hand-over came after, and its root is the others' (checked by settle above).
  // Round-robin gave keeper 3 jobs (one of the first three at least). Before each, three forged
  // refusals (the last its own keeper's genuine vote on a wrong analysis: one of the two a
  // quorum needs); right after, a re-run; once mined, another.
  const runs = named('re-run for fresh noise')
  assert.ok(runs.length >= 1, 'keeper 3 ran a job')
  for (const a of runs) assert.deepEqual(a.result, { same: true }, `${a.name}: a second run gives back the first signed outcome`)
  const forged = named('forged refusal')
  assert.equal(forged.length, 3 * runs.length)
  for (const a of forged) assert.equal(a.error?.code, 'REFUSAL_UNVERIFIED', a.name)
  const afterMined = named('re-run after the result was mined')
  assert.equal(afterMined.length, runs.length)
  for (const a of afterMined) assert.equal(a.error?.code, 'JOB_ALREADY_RUN', a.name)
})

test('keeper 3’s host learns nothing: no dataset key, no cell, no cluster secret in what it saw or holds', async () => {
  const epoch = await getCurrentEpoch(publicClient, { registry: devnet.contracts.workerRegistry })
  const secrets = await clusterSecrets(epoch)
  const cells = [...tokensOf(rowsA), ...tokensOf(rowsB)]
  const seen = hostile.transcript()
  const surfaces = Buffer.from(seen.filter((l) => l.kind === 'enclave' || l.kind === 'http-in' || l.kind === 'http-out' || l.kind === 'stdio').map((l) => JSON.stringify(l)).join('\n'))

  // It did see what crosses its door and its network: sealed dataset keys, releases, runs, queries.
  const registerCiphertext = (await readInbox(publicClient, { inbox: devnet.contracts.custodyInbox })).find((e) => e.sender.toLowerCase() === ownerA.address.toLowerCase())!.ciphertext
  assert.ok(surfaces.includes(Buffer.from(registerCiphertext.slice(2))), 'the sealed RegisterDataset reached its enclave through the host')
  for (const m of ['requestHandover', 'receiveHandover', 'applyEntries', 'runJob', 'signOwnTx']) {
    assert.ok(seen.some((l) => l.kind === 'enclave' && l['method'] === m), `the transcript holds ${m} calls`)
  }
  assert.ok(seen.some((l) => l.kind === 'enclave' && l['method'] === 'runJob' && JSON.stringify(l['params']).includes('"sealed"')), 'it carried a keeper\'s release (the job\'s key, sealed) to its enclave')
  assert.ok(seen.some((l) => l.kind === 'http-out' && String(l['url']).includes('/v1/keeper/release')), 'it asked a keeper for a release')
  assert.ok(seen.some((l) => l.kind === 'http-in' && String(l['url']).includes('/result')), 'the analyst fetched its result from it')
  // The search finds a key when it is there (the control).
  assert.deepEqual(found(Buffer.concat([surfaces, Buffer.from(bytesToHex(deks[0]!))]), [deks[0]!]), [Buffer.from(deks[0]!).toString('hex')])

  assert.deepEqual(found(surfaces, deks), [], 'a dataset key crossed its door or its network')
  assert.deepEqual(found(surfaces, secrets), [], 'a cluster secret crossed its door or its network')
  assert.deepEqual(found(surfaces, cells), [], 'a cell of an uploaded file crossed its door or its network')

  // At rest: its enclave's files are sealed; the rest is public (receipts, endpoint, result envelopes).
  const files = filesUnder(hostileDir)
  // The ingest role's write-ahead log is sealed frame by frame (enclave/ingest-log.ts), one file per generation.
  for (const f of files.filter((f) => relative(hostileDir, f).startsWith('enclave'))) assert.match(f, /\.sealed$|[/\\]ingest[/\\]events\.[0-9a-f]{32}\.wal$/, `${f} is not a sealed file`)
  const atRest = Buffer.concat(files.map((f) => readFileSync(f)))
  assert.deepEqual(found(atRest, [...deks, ...secrets, ...cells]), [], 'its data dir holds a key, a secret or a cell')
})

// The worker enclave decrypts a job's segments into anonymous memory files only (src/analysis/memory-files.ts).
test('keeper 3’s host, watching its data dir while its job ran, read no cell', () => {
  const watched = Buffer.from(hostile.transcript().filter((l) => l.kind === 'file-watched').map((l) => JSON.stringify(l)).join('\n'))
  assert.ok(watched.length > 0)
  assert.deepEqual(found(watched, [...tokensOf(rowsA), ...tokensOf(rowsB)]), [], 'a cell of an uploaded file was on its disk during a job')
})

// A release needs charge confirmations from a majority of the custody keeper set (charge-confirmation.ts).
test('a job charge fabricated by keeper 3’s host gets no release: its peers never confirm it (quorum refusal)', async () => {
  // The host feeds its enclave an inbox entry the chain never had: the Jobs contract charging a
  // job for an analyst of its own, with a hash chain it extends itself.
  const entries = await readInbox(publicClient, { inbox: devnet.contracts.custodyInbox })
  const last = entries[entries.length - 1]!
  const request: AnalysisRequest = { v: 1, kind: 'sql', sql: 'SELECT city, count(*) AS n FROM data GROUP BY city', resultKey: bytesToHex((await deriveAnalystResultKey({ account: devAccount(7), chainId: devnet.chainId })).publicKey) }
  const privacy: PrivacyParams = { epsilon: 1 }
  const jobId = 1_000_000n
  const committed = { analysisHash: analysisHash(request), privacyParamsHash: privacyParamsHash(privacy), epsilonMicros: epsilonMicros(privacy) }
  const payload = encodeJobCharge({ jobId, analyst: devAccount(7).address, datasetId: datasetA, ...committed, admitted: true })
  const index = BigInt(entries.length)
  const head = nextInboxHead(last.head, { index, sender: devnet.contracts.jobs, epoch: last.epoch, ciphertext: payload }, commandHash(payload))
  const fake = { index, sender: devnet.contracts.jobs, epoch: last.epoch, ciphertext: bytesToHex(payload), head, blockNumber: await publicClient.getBlockNumber(), timestamp: BigInt(Math.floor(Date.now() / 1000)) }
  const epoch = await getCurrentEpoch(publicClient, { registry: devnet.contracts.workerRegistry })
  const applied = await hostile.call<{ receipts: { status: string }[] }>('applyEntries', { entries: [fake], headEpoch: epoch })
  assert.deepEqual(applied.receipts.map((r) => r.status), ['applied'], 'its own enclave took the fabricated charge')
  const key = await hostile.call<{ epoch: bigint; publicKey: Hex }>('analysisKey')
  const sealedAnalysis = bytesToHex(await sealAnalysis({ chainId: devnet.chainId, jobs: devnet.contracts.jobs, analysisPublicKey: hexToBytes(key.publicKey), epoch: key.epoch, request, privacy }))
  const me: WorkerOnChain = { address: hostileInfo.address, hpkePublicKey: hostileInfo.info.hpkePublicKey, isCompute: true, eligible: true, measurementAllowed: true }
  const job = { id: jobId, status: 'open', analyst: devAccount(7).address, worker: hostileInfo.address, datasetId: datasetA, inputCidsHash: inputCidsHashFor(manifestCidA), ...committed }
  const out = await hostile.call<ReleaseOutcome>('releaseJob', { job, worker: me, quote: hostileInfo.info.quote, sealedAnalysis }).catch((e: unknown) => e)
  // Unwitnessed, the forked state cannot even release (STATE_NOT_COMMITTED); witnessed, the peers still do not confirm the charge.
  assert.ok(codeIs(out, 'QUORUM_NOT_REACHED', 'STATE_NOT_COMMITTED') || (!(out as ReleaseOutcome).ok && /quorum/i.test((out as { reason: string }).reason)), `released on a fabricated charge: ${out instanceof Error ? out.message : `ok ${(out as ReleaseOutcome).ok}`}`)
})

// An enclave refuses to resume from sealed state older than what its peers witnessed (enclave/freshness.ts).
test('keeper 3’s host restores an old copy of its sealed files and restarts: the enclave refuses it and comes back only by hand-over, with the dataset still deleted', async () => {
  const seenBefore = hostile.transcript().length
  await hostile.stop()
  cpSync(snapshotDir, join(hostileDir, 'enclave'), { recursive: true })
  const rolledBack = (e: unknown) => codeIs(e, 'STATE_ROLLED_BACK', 'STATE_NOT_FRESH')
  const started = await hostile.start().then((i) => i, (e: unknown) => e)
  if (started instanceof Error) return assert.ok(rolledBack(started), `start failed otherwise: ${String(started)}`)
  // It started: only because its host recovered it by hand-over after the enclave refused the old copy.
  const after = Buffer.from(hostile.transcript().slice(seenBefore).map((l) => JSON.stringify(l)).join('\n'))
  assert.ok(after.includes(Buffer.from('STATE_ROLLED_BACK')), 'the enclave said the restored state was rolled back')
  assert.ok(after.includes(Buffer.from('receiveHandover')), 'it came back by a hand-over')
  // Its state is the current one again: the deleted dataset is deleted there too (the same root as keeper 1's).
  hostileInfo = started as typeof hostileInfo
  const roots = await settle()
  assert.equal(new Set(roots).size, 1, `keepers' roots differ: ${roots.join(' ')}`)
})

// Keeper removal (custody/keeper-removal.ts): a member gone from the chain leaves the custody keeper set by a majority's approvals.
test('keeper 3 exits on chain: keepers 1 and 2 remove it from the custody keeper set on their own, and jobs run on a quorum of the two', async () => {
  const operator = createChainClients({ rpcUrl: devnet.rpcUrl, chainId: devnet.chainId, account: devAccount(5) })
  await requestWorkerExit(operator, { registry: devnet.contracts.workerRegistry, worker: hostileInfo.address })
  type SetView = { keepers: string[]; quorum: number; member: boolean }
  const sets = () => Promise.all([devnet.workers[0]!.url, keeper2.url].map(async (u) => ((await (await fetch(`${u}/v1/info`)).json()) as { keeper: { keeperSet: SetView } }).keeper.keeperSet))
  // Each honest host checks its set against the registry every 15 s and posts the removal once both approved.
  const until = Date.now() + 120_000
  let seen = await sets()
  while (Date.now() < until && !seen.every((s) => s.keepers.length === 2)) {
    await new Promise((r) => setTimeout(r, 500))
    seen = await sets()
  }
  for (const s of seen) {
    assert.deepEqual([s.keepers.length, s.quorum, s.member], [2, 2, true], JSON.stringify(s))
    assert.ok(!s.keepers.includes(hostileInfo.address.toLowerCase()), 'keeper 3 is out of the set')
  }
  // The network goes on: a release now needs both remaining keepers, and they give it.
  const r = await runQuery(analyst, { id: datasetA, sql: 'SELECT count(*) AS n FROM data', epsilon: 0 })
  assert.deepEqual(r.rows, [[String(rowsA.length)]])
  assert.notEqual(r.worker.toLowerCase(), hostileInfo.address.toLowerCase())
})
