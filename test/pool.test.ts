/**
 * Pools on a real devnet (Anvil, the contracts, storage, a gateway, a keeper and a compute worker
 * with the simulated TEE): a curator makes a pool, 50 contributors each add their rows under their
 * own key with their own consent (one from memory, as a page does), and analysts query it for a declared purpose. Checked on chain,
 * exactly: each job's owner share is split among the contributors whose rows entered it, claimed
 * with proofs of the worker's signed weight list; a contributor who withdrew, deleted, or refuses
 * the job's purpose is neither read nor paid. A deleted contribution's blocks leave storage (its
 * contributor unpins the roots it uploaded); another account cannot unpin them.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs'
import { DuckDBInstance } from '@duckdb/node-api'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { keccak256, numberToHex, stringToHex, type Address, type Hex } from 'viem'
import { CarBlockIterator } from '@ipld/car/iterator'
import { CID } from 'multiformats/cid'
import * as dagJson from '@ipld/dag-json'
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts'
import { startDevnet, type RunningDevnet } from '../src/node/up.js'
import { runW3a, type W3aRun } from './w3a-up-process.js'
import { claimRoyalties, createChainClients, devAccount, getJobsParams, getRoyalty, getEarnings, jobsAbi, royaltyProof } from '../src/chain/index.js'
import { isW3aError } from '../src/core/errors.js'
import {
  buyCredits,
  claimPoolRoyalties,
  contributeParquet,
  contributeToPool,
  createPool,
  createW3aClient,
  deleteContribution,
  getCredits,
  getPoolRoyalties,
  listMyContributions,
  listOnMarket,
  unpinMyUploads,
  readAnalystBudget,
  runQuery,
  setDatasetPolicy,
  setPoolConsent,
  submitQuery,
  waitForJob,
  getJob,
  verifyJob,
  type W3aClient,
} from '../src/sdk/index.js'
import { functionHash } from '../src/analysis/index.js'
import { parsePolicy } from '../src/custody/index.js'
import { carOfBlock } from '../src/storage/car-of-block.js'
import { parsePoolSchema } from '../src/storage/index.js'
import { signUnpin, signUnpinOwn } from '../src/storage/upload-authorization.js'
import { uploadCar } from '../src/sdk/upload-car.js'

const TOKEN = 10n ** 18n
const N = 50
const ROWS_EACH = 3
const WITHDRAWN = 10
const DELETED = 20
/** Contributors 40..48 keep the default consent (the pool's purpose only); 49 allows any purpose but advertising. */
const DEFAULT_CONSENT = (i: number) => i >= 40 && i <= 48
const REFUSES_ADS = 49
const DENIED_FN = `(rows) => rows.length`
/** This contributor contributes from memory, as a page does (contributeParquet), not from a file. */
const FROM_PAGE = 5

/** The Parquet bytes a page would hold for a CSV (the dashboard writes them in the page; here DuckDB does). */
async function parquetOf(csv: string): Promise<Uint8Array> {
  const db = await DuckDBInstance.create(':memory:')
  const out = `${csv}.parquet`
  try {
    await (await db.connect()).run(`COPY (SELECT * FROM read_csv('${csv}', header = true, columns = {'age': 'BIGINT', 'score': 'DOUBLE'})) TO '${out}' (FORMAT parquet)`)
  } finally {
    db.closeSync()
  }
  return new Uint8Array(readFileSync(out))
}

const work = mkdtempSync(join(tmpdir(), 'w3a-pool-'))
let devnet: RunningDevnet
let curator: W3aClient
let analyst: W3aClient
let poolId: Hex
const people: { account: PrivateKeyAccount; client: W3aClient; contribution?: Hex }[] = []

const policy = parsePolicy({
  k: 5,
  epsilonBudget: 100,
  analystEpsilonBudget: 100,
  minEpsilon: 0.1,
  defaultEpsilon: 1,
  openAccess: true,
  allowExact: true,
  exactQueries: 20,
  analyses: ['sql', 'function'],
  columns: { identifiers: ['contributor'], dimensions: ['age'], measures: ['score'] },
  bounds: { score: [0, 100] },
  functionDeny: [functionHash(DENIED_FN)],
})

before(async () => {
  devnet = await startDevnet({ dataDir: join(work, 'devnet'), port: 0 })
  curator = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: devAccount(1) })
  analyst = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: devAccount(2) })
  // 50 contributors of their own (fresh keys), given gas only: they never pay tokens.
  const rpc = async (method: string, params: unknown[]) => {
    const res = await fetch(devnet.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) })
    const body = (await res.json()) as { error?: unknown }
    if (body.error) throw new Error(JSON.stringify(body.error))
  }
  for (let i = 0; i < N; i++) {
    const account = privateKeyToAccount(keccak256(stringToHex(`w3a pool test contributor ${i}`)))
    await rpc('anvil_setBalance', [account.address, numberToHex(10n ** 20n)])
    people.push({ account, client: createW3aClient({ gatewayUrl: devnet.gatewayUrl, account }) })
  }
  const created = await createPool(curator, { name: 'health diaries', purpose: 'Health research', schema: parsePoolSchema('age:BIGINT,score:DOUBLE') })
  poolId = created.id
  await setDatasetPolicy(curator, { id: poolId, policy })
  await listOnMarket(curator, { id: poolId, price: 3n * TOKEN + 7n, summary: 'pool: health diaries; k=5' })
  await buyCredits(analyst, { id: poolId, credits: 10n })
})

after(async () => {
  await devnet?.stop()
  rmSync(work, { recursive: true, force: true })
})

test('50 contributors add their rows, each under their own key and consent; the file is checked against the pool schema', async () => {
  const bad = join(work, 'bad.csv')
  writeFileSync(bad, 'age,score,contributor\n30,1.5,0xabc\n')
  await assert.rejects(contributeToPool(people[0]!.client, { pool: poolId, file: bad }), /does not have the pool's columns/)
  for (let start = 0; start < N; start += 10) {
    await Promise.all(
      people.slice(start, start + 10).map(async (p, j) => {
        const i = start + j
        const file = join(work, `c${i}.csv`)
        writeFileSync(file, ['age,score', ...Array.from({ length: ROWS_EACH }, (_, r) => `${20 + i},${(i * 3 + r) % 100}`)].join('\n') + '\n')
        const consent = DEFAULT_CONSENT(i) ? {} : i === REFUSES_ADS ? { allow: ['*'], deny: ['Advertising'] } : { allow: ['*'] }
        // One contributor uses the browser path: Parquet bytes in memory, sealed on Web Crypto (contributeParquet).
        const out = i === FROM_PAGE ? await contributeParquet(p.client, { pool: poolId, segments: [{ parquet: await parquetOf(file), rows: ROWS_EACH }], columns: [{ name: 'age', type: 'BIGINT' }, { name: 'score', type: 'DOUBLE' }], ...consent }) : await contributeToPool(p.client, { pool: poolId, file, ...consent })
        assert.equal(out.rows, ROWS_EACH)
        p.contribution = out.id
      }),
    )
  }
  const mine = await listMyContributions(people[REFUSES_ADS]!.client, { pool: poolId })
  assert.deepEqual(mine.map((c) => [c.id, c.allow, c.deny, c.withdrawn, c.deleted]), [[people[REFUSES_ADS]!.contribution, ['*'], ['advertising'], false, false]])
  const byDefault = await listMyContributions(people[40]!.client, { pool: poolId })
  assert.deepEqual(byDefault[0]!.allow, ['health research'])
})

/** An exact count (k threshold only) of rows and contributors, for `purpose`; returns the job and its answer. */
async function count(purpose: string) {
  const r = await runQuery(analyst, { id: poolId, sql: 'SELECT count(*) AS n, count(DISTINCT contributor) AS people FROM data', epsilon: 0, purpose })
  return { jobId: r.jobId, rows: Number(r.rows[0]![0]), people: Number(r.rows[0]![1]) }
}

const ownerShares = new Map<bigint, bigint>()
const weightsOf = new Map<bigint, Address[]>()

async function recordJob(jobId: bigint): Promise<Address[]> {
  const pc = createChainClients({ chainId: devnet.chainId, rpcUrl: devnet.rpcUrl }).publicClient
  const [event] = await pc.getContractEvents({ address: devnet.contracts.jobs, abi: jobsAbi, eventName: 'PoolJobCompleted', args: { jobId }, fromBlock: 0n })
  assert.ok(event, `job ${jobId} completed as a pool job`)
  const { params } = { params: await getJobsParams(pc, { jobs: devnet.contracts.jobs }) }
  const job = await getJob(analyst, { id: jobId })
  assert.equal(job.pool, true)
  assert.equal(event.args.amount, (job.creditValue * BigInt(params.ownerShareBps)) / 10_000n, 'the owner share is kept for the contributors')
  ownerShares.set(jobId, event.args.amount!)
  const { envelope } = await verifyJob(analyst, { id: jobId })
  assert.equal(envelope.status, 'completed')
  const who = (envelope.status === 'completed' ? envelope.royalties?.weights ?? [] : []).map((w) => {
    assert.equal(w.weight, '1', 'a contributor brings one unit')
    return w.contributor.toLowerCase() as Address
  })
  assert.equal(BigInt(who.length), event.args.totalWeight)
  weightsOf.set(jobId, who)
  return who
}

const addr = (i: number) => people[i]!.account.address.toLowerCase() as Address

test('a query for the pool purpose reads every consenting contribution and names them in its signed weights', async () => {
  const a = await count('health research')
  assert.deepEqual([a.rows, a.people], [N * ROWS_EACH, N])
  const who = await recordJob(a.jobId)
  assert.deepEqual([...who].sort(), people.map((_, i) => addr(i)).sort())
})

/** Every block of a contribution, as the trustless gateway exports its DAG (manifest, segment roots and leaves). */
async function contributionBlocks(i: number): Promise<string[]> {
  const [c] = await listMyContributions(people[i]!.client, { pool: poolId })
  const res = await fetch(`${devnet.gatewayUrl}/ipfs/${c!.manifestCid}?format=car`)
  assert.equal(res.status, 200, `contribution ${i}'s DAG is served`)
  const cids: string[] = []
  for await (const b of await CarBlockIterator.fromBytes(new Uint8Array(await res.arrayBuffer()))) cids.push(b.cid.toString())
  assert.ok(cids.length >= 2, 'a manifest and at least one segment block')
  return cids
}

/** How many of `cids` the gateway serves (each fetched alone, as a trustless client does). */
async function served(cids: string[]): Promise<string[]> {
  const out: string[] = []
  for (const cid of cids) {
    const status = (await fetch(`${devnet.gatewayUrl}/ipfs/${cid}?format=raw`)).status
    assert.ok(status === 200 || status === 404, `${cid}: HTTP ${status}`)
    if (status === 200) out.push(cid)
  }
  return out
}

const VICTIM = 30
const ATTACKER = 31

test("another account cannot unpin a contribution's blocks: not by naming its roots, not through a DAG of its own linking them", async () => {
  const victim = await contributionBlocks(VICTIM)
  const [mine] = await listMyContributions(people[VICTIM]!.client, { pool: poolId })
  // B names A's manifest (its root): refused whole, nothing dropped.
  await assert.rejects(unpinMyUploads(people[ATTACKER]!.client, { roots: [mine!.manifestCid] }), (e) => isW3aError(e, 'ACCESS_DENIED') && /may unpin only its own uploads/.test(e.message))
  // Mixed with a root of its own: still refused whole.
  const [own] = await listMyContributions(people[ATTACKER]!.client, { pool: poolId })
  await assert.rejects(unpinMyUploads(people[ATTACKER]!.client, { roots: [own!.manifestCid, ...victim.slice(1)] }), (e) => isW3aError(e, 'ACCESS_DENIED'))
  // B uploads a block of its own linking A's manifest (A's blocks are already stored, so the CAR is "complete"), then unpins it.
  const bait = await carOfBlock(dagJson.encode({ bait: CID.parse(mine!.manifestCid), victim: victim.slice(1).map((c) => CID.parse(c)) }))
  await uploadCar(people[ATTACKER]!.client, { root: bait.cid, car: bait.car })
  const dropped = await unpinMyUploads(people[ATTACKER]!.client, { roots: [bait.cid.toString()] })
  assert.deepEqual([dropped.blocks, dropped.missing], [1, 0], 'only its own block went')
  assert.equal(dropped.kept, victim.length, "every block of A's it linked was kept")
  // A signature covers the roots it names, once: not others, not again.
  const other = await carOfBlock(dagJson.encode({ attacker: ATTACKER }))
  await uploadCar(people[ATTACKER]!.client, { root: other.cid, car: other.car })
  const { chainId } = await people[ATTACKER]!.client.network()
  const roots = [other.cid.toString()]
  const headers = await signUnpinOwn({ account: people[ATTACKER]!.account, roots, chainId })
  const send = (body: string[]) => fetch(`${devnet.gatewayUrl}/api/v1/blocks/unpin`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ roots: body }) })
  assert.equal((await send(victim)).status, 403, 'its signature over its own root, sent with the victim\'s roots, recovers to an account that uploaded none of them')
  assert.equal((await send(roots)).status, 200)
  const replay = await send(roots)
  assert.equal(replay.status, 401)
  assert.equal(((await replay.json()) as { error: { code: string } }).error.code, 'UPLOAD_UNAUTHORIZED')
  // The pool's curator owns the pool dataset, but a dataset's unpin drops its own versions only: another dataset's manifest (A's contribution) and what it links stay.
  const byCurator = await signUnpin({ account: devAccount(1), datasetId: poolId, roots: victim, chainId })
  const curatorAsked = await fetch(`${devnet.gatewayUrl}/api/v1/datasets/${poolId}/unpin`, { method: 'POST', headers: { ...byCurator, 'content-type': 'application/json' }, body: JSON.stringify({ roots: victim }) })
  assert.equal(curatorAsked.status, 200)
  assert.deepEqual((await curatorAsked.json()) as object, { datasetId: poolId.toLowerCase(), blocks: 0, bytes: 0, kept: victim.length, missing: 0 })
  assert.deepEqual(await served(victim), victim, "every block of A's contribution is still served")
})

test('one who withdrew is not read from the next job on; one who deleted is gone, with a keeper-signed receipt', async () => {
  const deletedBlocks = await contributionBlocks(DELETED)
  const othersBlocks = (await Promise.all([0, DELETED + 1, VICTIM].map(contributionBlocks))).flat()
  await setPoolConsent(people[WITHDRAWN]!.client, { id: people[WITHDRAWN]!.contribution!, allow: ['*'], withdrawn: true })
  const del = await deleteContribution(people[DELETED]!.client, { id: people[DELETED]!.contribution! })
  assert.equal(del.receipt.status, 'applied')
  assert.equal(del.receipt.type, 'Delete')
  assert.ok(del.receipt.unrecoverableAfterEpoch !== undefined, 'the receipt names the epoch after which the key is gone')
  // Its blocks leave storage: every one the gateway exported before is now a 404 (trustless fetch, one block each).
  assert.equal(del.unpinned.segments.length + 1, new Set([del.unpinned.manifestCid, ...del.unpinned.segments]).size)
  assert.deepEqual([del.unpinned.blocks, del.unpinned.kept, del.unpinned.missing], [deletedBlocks.length, 0, 0], JSON.stringify(del.unpinned))
  assert.deepEqual(await served(deletedBlocks), [], 'no block of the deleted contribution is still served')
  assert.deepEqual(await served(othersBlocks), othersBlocks, "other contributors' blocks are still served")
  // Asking again drops nothing more.
  const again = await unpinMyUploads(people[DELETED]!.client, { roots: [del.unpinned.manifestCid, ...del.unpinned.segments] })
  assert.deepEqual([again.blocks, again.missing], [0, 1 + del.unpinned.segments.length])
  const [gone] = await listMyContributions(people[DELETED]!.client, { pool: poolId })
  assert.equal(gone!.deleted, true)
  const b = await count('health research')
  assert.deepEqual([b.rows, b.people], [(N - 2) * ROWS_EACH, N - 2])
  const who = await recordJob(b.jobId)
  assert.ok(!who.includes(addr(WITHDRAWN)) && !who.includes(addr(DELETED)))
  assert.equal(who.length, N - 2)
})

test('a job whose purpose a contributor refuses (or never allowed) leaves them out', async () => {
  const c = await count('advertising')
  const expected = people.map((_, i) => i).filter((i) => i !== WITHDRAWN && i !== DELETED && !DEFAULT_CONSENT(i) && i !== REFUSES_ADS)
  assert.deepEqual([c.rows, c.people], [expected.length * ROWS_EACH, expected.length])
  const who = await recordJob(c.jobId)
  assert.deepEqual([...who].sort(), expected.map(addr).sort())
})

test('each contributor is paid exactly its share of each job it entered, in one claim; nobody else is', async () => {
  const pc = createChainClients({ chainId: devnet.chainId, rpcUrl: devnet.rpcUrl }).publicClient
  for (const [i, p] of people.entries()) {
    const expected = [...weightsOf.entries()].reduce((sum, [jobId, who]) => (who.includes(addr(i)) ? sum + ownerShares.get(jobId)! / BigInt(who.length) : sum), 0n)
    const mine = await getPoolRoyalties(p.client)
    assert.equal(mine.jobs.length, [...weightsOf.values()].filter((w) => w.includes(addr(i))).length, `contributor ${i}: jobs entered`)
    const before = (await getEarnings(pc, { jobs: devnet.contracts.jobs, account: p.account.address }))
    const claimed = await claimPoolRoyalties(p.client)
    assert.equal(claimed.amount, expected, `contributor ${i}: claimed`)
    const after = await getEarnings(pc, { jobs: devnet.contracts.jobs, account: p.account.address })
    assert.equal(after - before, expected, `contributor ${i}: earnings on chain`)
    const pool = (await getPoolRoyalties(p.client)).pools[0]
    assert.equal(pool?.claimed, expected)
    assert.equal(pool?.unclaimed, 0n)
  }
  // A second claim finds nothing; the curator got no owner share from these jobs.
  assert.equal((await claimPoolRoyalties(people[0]!.client)).amount, 0n)
  const r = await getRoyalty(pc, { jobs: devnet.contracts.jobs, jobId: [...weightsOf.keys()][0]!, contributor: people[WITHDRAWN]!.account.address })
  assert.equal(r.claimed, true, 'the withdrawn contributor was paid for the job before it withdrew')
})

test('attacks on the claim: a forged weight, a replayed claim, another contributor\'s leaf: all revert on chain', async () => {
  const [jobA, jobB] = [...weightsOf.keys()]
  const clients = (i: number) => createChainClients({ chainId: devnet.chainId, rpcUrl: devnet.rpcUrl, account: people[i]!.account })
  const weights = (jobId: bigint) => weightsOf.get(jobId)!.map((contributor) => ({ contributor, weight: 1n }))
  const proof = (jobId: bigint, who: Address) => royaltyProof(weights(jobId), who)!.proof
  const jobs = devnet.contracts.jobs
  const reverts = (p: Promise<unknown>, name: string) => assert.rejects(p, (e) => isW3aError(e, 'TX_REVERTED') && new RegExp(name).test(`${e.message} ${e.details.join(' ')}`), name)
  // Contributor 1 claims job A again (already taken above), and with a forged weight of 2.
  await reverts(claimRoyalties(clients(1), { jobs, claims: [{ jobId: jobA!, weight: 1n, proof: proof(jobA!, addr(1)) }] }), 'RoyaltyAlreadyClaimed')
  // The withdrawn contributor is not in job B: someone else's proof does not make its leaf.
  await reverts(claimRoyalties(clients(WITHDRAWN), { jobs, claims: [{ jobId: jobB!, weight: 1n, proof: proof(jobB!, addr(1)) }] }), 'BadRoyaltyProof')
  await reverts(claimRoyalties(clients(WITHDRAWN), { jobs, claims: [{ jobId: jobB!, weight: 2n, proof: proof(jobB!, addr(1)) }] }), 'BadRoyaltyProof')
})

test('a function the policy denies is refused at the charge: no ε spent, the credit comes back', async () => {
  const budget = await readAnalystBudget(analyst, { id: poolId })
  const credits = (await getCredits(analyst, { id: poolId })).credits
  const submitted = await submitQuery(analyst, { id: poolId, function: { source: DENIED_FN, output: 'number:0:10' }, epsilon: 1, purpose: 'health research' })
  const done = await waitForJob(analyst, { id: submitted.jobId })
  assert.equal(done.status, 'failed')
  const { envelope } = await verifyJob(analyst, { id: submitted.jobId })
  assert.equal(envelope.status === 'failed' ? envelope.report.reason : undefined, 'analysis-not-allowed')
  const after = await readAnalystBudget(analyst, { id: poolId })
  assert.equal(after.epsilonSpent, budget.epsilonSpent, 'no ε charged')
  assert.equal((await getCredits(analyst, { id: poolId })).credits, credits, 'the credit came back')
})

/** `w3a ARGS --json` as contributor `i` (its key in W3A_PRIVATE_KEY), trusting the devnet its data dir pinned. Async: the gateway runs in this process. */
function w3aAs(i: number, args: string[]): Promise<W3aRun> {
  const env = { ...process.env, W3A_DATA_DIR: join(work, 'devnet'), W3A_PRIVATE_KEY: keccak256(stringToHex(`w3a pool test contributor ${i}`)) }
  return runW3a([...args, '--gateway', devnet.gatewayUrl, '--json'], env)
}

test('`w3a pool delete --json` says what left storage; run again on the deleted contribution it only unpins, and finds nothing more', async () => {
  const blocks = await contributionBlocks(VICTIM)
  const first = await w3aAs(VICTIM, ['pool', 'delete', people[VICTIM]!.contribution!])
  assert.equal(first.code, 0, first.stderr)
  assert.equal(first.json.receipt.status, 'applied')
  assert.deepEqual([first.json.unpinned.blocks, first.json.unpinned.kept, first.json.unpinned.missing], [blocks.length, 0, 0])
  assert.equal(first.json.unpinned.manifestCid, blocks[0])
  assert.deepEqual(await served(blocks), [])
  const again = await w3aAs(VICTIM, ['pool', 'delete', people[VICTIM]!.contribution!])
  assert.equal(again.code, 0, again.stderr)
  assert.equal(again.json.receipt, null)
  assert.deepEqual([again.json.unpinned.blocks, again.json.unpinned.missing], [0, 1], 'the manifest is gone, so only it is named, and it is missing')
  const after = await count('health research')
  assert.equal(after.people, N - 3, 'the pool still answers, without the two deleted and the withdrawn contributor')
})
