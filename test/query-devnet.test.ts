/**
 * Private analysis on a real devnet (`startDevnet`: Anvil, the contracts, a storage node, a
 * gateway and a keeper + compute worker with the simulated TEE in its own process). An owner
 * uploads a dataset and sets its policy; analysts buy credits and run SQL through the whole
 * path: sealed analysis → job on chain → custody charge in the inbox → keeper release to the
 * attested worker → fetch, verify, decrypt, DuckDB, privacy gate → signed, sealed result →
 * verified and opened at the client. New datasets are differentially private by default: an
 * analyst names no privacy parameter; exact answers exist only where the owner opted in, and are
 * compared with DuckDB on the plaintext.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { execFile } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import type { Hex } from 'viem'
import { startDevnet, type RunningDevnet } from '../src/node/up.js'
import { devAccount } from '../src/chain/index.js'
import {
  buyCredits,
  refundCredits,
  setBuyerAccess,
  checkResultEnvelope,
  claimEarnings,
  createW3aClient,
  getCredits,
  getEarnings,
  getJob,
  grantAccess,
  listJobs,
  listOnMarket,
  openJobResult,
  readAnalystBudget,
  runQuery,
  setDatasetPolicy,
  submitQuery,
  timeoutJob,
  uploadDataset,
  verifyJob,
  waitForJob,
  type RunQueryReturnType,
  type W3aClient,
} from '../src/sdk/index.js'
import { parsePolicy } from '../src/custody/index.js'
import { isW3aError } from '../src/core/errors.js'

const TOKEN = 10n ** 18n
const K = 5
const BIN = fileURLToPath(new URL('../bin/w3a.mjs', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'w3a-query-devnet-'))
const csv = join(work, 'visits.csv')
let devnet: RunningDevnet
let owner: W3aClient
let analyst: W3aClient
let analyst2: W3aClient
let analyst3: W3aClient
let reader: W3aClient
let datasetId: Hex
let exactId: Hex
let duck: Awaited<ReturnType<DuckDBInstance['connect']>>

/** The one visit of the planted person: the only user in 'Solo'. */
const PLANTED = { user: 'u999', city: 'Solo', amount: 77 }

/** 320 visits of 80 users and the planted person's one; the city 'Rare' has 3 users, below k. Deterministic (no RNG). */
function writeVisits(): void {
  const cities = ['Paris', 'Lyon', 'Nice', 'Brest']
  const devices = ['ios', 'android', 'web']
  const lines = ['user_id,city,device,amount']
  for (let i = 0; i < 320; i++) {
    const user = (i * 37) % 80
    const city = user < 3 ? 'Rare' : cities[user % 4]!
    lines.push(`u${user},${city},${devices[(i * 7) % 3]},${((i * 53) % 100) + 1}`)
  }
  lines.push(`${PLANTED.user},${PLANTED.city},web,${PLANTED.amount}`)
  writeFileSync(csv, lines.join('\n') + '\n')
}

/** What DuckDB says on the plaintext, every cell as the released JSON form (bigints as strings). */
async function plain(sql: string): Promise<unknown[][]> {
  const reader = await duck.runAndReadAll(sql.replaceAll('FROM data', `FROM read_csv('${csv}', header = true)`))
  return reader.getRows().map((r) => r.map((v) => (typeof v === 'bigint' ? v.toString() : v)))
}

/** The owner declares columns and the measure's public bounds; everything else is the safe default (DP at ε 0.1 per query). */
const policy = (extra: Record<string, unknown> = {}) =>
  parsePolicy({ k: K, epsilonBudget: 20, analystEpsilonBudget: 15, openAccess: true, columns: { identifiers: ['user_id'], dimensions: ['city', 'device'], measures: ['amount'] }, bounds: { amount: [0, 100] }, ...extra })

before(async () => {
  writeVisits()
  devnet = await startDevnet({ dataDir: join(work, 'devnet'), port: 0 })
  owner = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: devAccount(1) })
  analyst = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: devAccount(2) })
  analyst2 = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: devAccount(3) })
  analyst3 = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: devAccount(5) })
  reader = createW3aClient({ gatewayUrl: devnet.gatewayUrl })
  datasetId = (await uploadDataset(owner, { file: csv, name: 'visits', privacyUnit: 'user_id' })).id
  await setDatasetPolicy(owner, { id: datasetId, policy: policy() })
  await listOnMarket(owner, { id: datasetId, price: TOKEN, summary: `k=${K}; ε budget 20; dimensions city, device; measures amount` })
  await buyCredits(analyst, { id: datasetId, credits: 20n })
  await buyCredits(analyst2, { id: datasetId, credits: 3n })
  // The same data where the owner opted in to exact answers, two per analyst.
  exactId = (await uploadDataset(owner, { file: csv, name: 'visits exact', privacyUnit: 'user_id' })).id
  await setDatasetPolicy(owner, { id: exactId, policy: policy({ allowExact: true, exactQueries: 2 }) })
  await listOnMarket(owner, { id: exactId, price: TOKEN, summary: `k=${K}; exact answers allowed, 2 per analyst` })
  await buyCredits(analyst, { id: exactId, credits: 5n })
  duck = await (await DuckDBInstance.create(':memory:')).connect()
})

after(async () => {
  duck?.closeSync()
  await devnet?.stop()
  rmSync(work, { recursive: true, force: true })
})

test('the default: no privacy flags, a DP answer at the policy ε; the differencing pair does not recover the planted value', async () => {
  const all = await runQuery(analyst, { id: datasetId, sql: 'SELECT count(*) AS n, sum(amount) AS total FROM data' })
  assert.equal(all.privacy.mechanism, 'discrete-laplace')
  assert.deepEqual([all.privacy.epsilonSpent, all.privacy.delta, all.privacy.suppressed, all.privacy.k], [0.1, 1e-7, null, K])
  assert.equal(all.attestation.teeType, 'sim')
  assert.equal(all.rows.length, 1) // without GROUP BY the one row is always released, noised
  const rest = await runQuery(analyst, { id: datasetId, sql: `SELECT count(*) AS n, sum(amount) AS total FROM data WHERE city <> '${PLANTED.city}'` })
  const difference = Number(all.rows[0]![1]) - Number(rest.rows[0]![1])
  assert.ok(Math.abs(difference - PLANTED.amount) >= 1, `the pair recovered ${difference}`)
  assert.ok(all.privacy.noiseScale['total']! > 100, 'a sum bounded to [0, 100] at ε 0.1 is noised far more than one value')
  // Groups are released only well above k: the planted person's city never.
  const cities = await runQuery(analyst, { id: datasetId, sql: 'SELECT city, count(*) AS n FROM data GROUP BY city' })
  assert.ok(!cities.rows.some((row) => row.includes(PLANTED.city) || row.includes('Rare')), 'a small group was released')
  // No exact answer where the owner did not opt in: custody refuses the charge, and the refusal is the analyst's doing (the credit is used).
  const credits = (await getCredits(analyst, { id: datasetId })).credits
  await assert.rejects(runQuery(analyst, { id: datasetId, sql: 'SELECT sum(amount) FROM data', epsilon: 0 }), (e) => isW3aError(e, 'JOB_FAILED') && /access-denied/.test(e.message))
  assert.equal((await getCredits(analyst, { id: datasetId })).credits, credits - 1n)
})

test('exact answers where the owner opted in: whole-dataset aggregates equal DuckDB on the plaintext; two per analyst', async () => {
  const sql = 'SELECT count(*) AS n, sum(amount) AS total, count(DISTINCT user_id) AS users FROM data'
  const r = await runQuery(analyst, { id: exactId, sql, epsilon: 0 })
  assert.deepEqual(r.rows, await plain(sql))
  assert.deepEqual([r.privacy.mechanism, r.privacy.suppressed, r.privacy.epsilonSpent], ['none', null, 0])
  // Exact answers take no WHERE and no GROUP BY: the worker refuses, and the refusal is paid like an answer.
  const before = await getCredits(analyst, { id: exactId })
  await assert.rejects(runQuery(analyst, { id: exactId, sql: 'SELECT city, sum(amount) FROM data GROUP BY city', epsilon: 0 }), (e) => isW3aError(e, 'JOB_FAILED') && /query-refused/.test(e.message) && /GROUP BY in an exact query/.test(e.message))
  assert.equal((await getCredits(analyst, { id: exactId })).credits, before.credits - 1n)
  // Both were charged as exact queries: the third is refused by custody (the analyst's doing: its credit is used).
  await assert.rejects(runQuery(analyst, { id: exactId, sql, epsilon: 0 }), (e) => isW3aError(e, 'JOB_FAILED') && /access-denied/.test(e.message))
  assert.equal((await readAnalystBudget(analyst, { id: exactId })).queryTerms.exactQueriesLeft, 0)
  // DP answers still run there.
  assert.equal((await runQuery(analyst, { id: exactId, sql })).privacy.mechanism, 'discrete-laplace')
})

test('anyone verifies a finished job; a tampered envelope is refused by the check that catches it', async () => {
  const r = await runQuery(analyst, { id: datasetId, sql: 'SELECT city, avg(amount) AS mean FROM data GROUP BY city' })
  const v = await verifyJob(reader, { id: r.jobId })
  assert.equal(v.job.status, 'completed')
  assert.equal(v.attestation.teeType, 'sim')
  assert.equal(v.worker.address.toLowerCase(), devnet.workers[0]!.address.toLowerCase())
  assert.equal(v.envelope.status, 'completed')
  const network = await reader.network()
  const ctx = { job: v.job, chainId: network.chainId, jobs: network.contracts.jobs }
  await checkResultEnvelope({ ...ctx, envelope: v.envelope }) // the untouched one passes
  if (v.envelope.status !== 'completed') throw new Error('unreachable')
  const otherHash = `0x${'ab'.repeat(32)}` as Hex
  const forger = privateKeyToAccount(generatePrivateKey())
  const forged = await forger.signMessage({ message: { raw: v.envelope.outputHash } })
  const tampered = [
    { ...v.envelope, outputHash: otherHash },
    { ...v.envelope, signature: forged },
    { ...v.envelope, jobId: (r.jobId + 1n).toString() },
    { ...v.envelope, worker: forger.address.toLowerCase() as Hex },
  ]
  for (const envelope of tampered) {
    await assert.rejects(checkResultEnvelope({ ...ctx, envelope }), (e) => isW3aError(e, 'RESULT_INVALID'))
  }
  // The sealed output: another account cannot open it; a flipped ciphertext byte does not open.
  await assert.rejects(openJobResult(analyst2, { envelope: v.envelope }), (e) => isW3aError(e, 'HPKE_OPEN_FAILED'))
  const ct = v.envelope.output.ciphertext
  const flipped = { ...v.envelope, output: { ...v.envelope.output, ciphertext: `${ct.slice(0, -2)}${ct.slice(-2) === '00' ? '01' : '00'}` as Hex } }
  await assert.rejects(openJobResult(analyst, { envelope: flipped }), (e) => isW3aError(e, 'HPKE_OPEN_FAILED'))
  const opened = await openJobResult(analyst, { envelope: v.envelope })
  assert.equal(opened.status, 'completed')
  if (opened.status === 'completed') assert.deepEqual(opened.output.rows, r.rows)
})

test('a query that would return individuals fails with a signed report; the analyst\'s own failure consumes credit and fee', async () => {
  const before = await getCredits(analyst, { id: datasetId })
  const earningsBefore = (await getEarnings(analyst, {})).claimable.amount
  for (const sql of ['SELECT user_id, amount FROM data', "SELECT city, string_agg(user_id, ',') FROM data GROUP BY city", "SELECT * FROM read_csv('/etc/passwd')"]) {
    const submitted = await submitQuery(analyst, { id: datasetId, sql, fee: TOKEN / 10n })
    const job = await waitForJob(analyst, { id: submitted.jobId })
    assert.equal(job.status, 'failed', sql)
    const v = await verifyJob(reader, { id: job.id })
    assert.equal(v.envelope.status, 'failed')
    if (v.envelope.status === 'failed') assert.equal(v.envelope.report.reason, 'query-refused', sql)
    const opened = await openJobResult(analyst, { envelope: v.envelope })
    assert.equal(opened.status, 'failed')
    if (opened.status === 'failed') assert.match(opened.detail ?? '', /refused/i, sql)
  }
  // query-refused is the analyst's doing (Jobs.isAnalystFault): no free ε probes on one credit.
  const after = await getCredits(analyst, { id: datasetId })
  assert.equal(after.credits, before.credits - 3n)
  assert.equal(after.reserved, 0n)
  assert.equal((await getEarnings(analyst, {})).claimable.amount, earningsBefore, 'no fee back')
  await assert.rejects(runQuery(analyst, { id: datasetId, sql: 'SELECT user_id FROM data' }), (e) => isW3aError(e, 'JOB_FAILED') && /query-refused/.test(e.message) && /consumed/.test(e.details.join('\n')))
  // A filter that errors only on the planted row (ln of 0) does not fail the job: the condition is total.
  const total = await runQuery(analyst, { id: datasetId, sql: `SELECT count(*) AS n FROM data WHERE ln(CASE WHEN city = '${PLANTED.city}' THEN 0 ELSE 1 END) >= 0` })
  assert.equal(total.rows.length, 1)
})

test('DP: ε charged by custody; the analyst share and then the dataset budget refuse overspending, whatever ε is asked', async () => {
  const budgetId = (await uploadDataset(owner, { file: csv, name: 'visits budget', privacyUnit: 'user_id' })).id
  await setDatasetPolicy(owner, { id: budgetId, policy: policy() })
  await listOnMarket(owner, { id: budgetId, price: TOKEN, summary: `k=${K}; ε budget 20, 15 per analyst` })
  await buyCredits(analyst3, { id: budgetId, credits: 8n })
  await buyCredits(analyst2, { id: budgetId, credits: 3n })
  const sql = 'SELECT device, count(*) AS n, sum(amount) AS s FROM data GROUP BY device'
  const r: RunQueryReturnType = await runQuery(analyst3, { id: budgetId, sql, epsilon: 10 })
  assert.equal(r.privacy.mechanism, 'discrete-laplace')
  assert.deepEqual([r.privacy.suppressed, r.privacy.delta], [null, 1e-7])
  assert.equal(r.privacy.epsilonSpent, 10)
  assert.equal(r.privacy.epsilonLeft, 10)
  assert.equal(r.privacy.analystEpsilonLeft, 5)
  assert.ok(r.privacy.noiseScale['n']! > 0 && r.privacy.noiseScale['s']! > 0)
  assert.equal(r.rows.length, 3)
  // The analyst reads their own ε from a keeper: what the job output said, the caps, and the query terms.
  const mine = await readAnalystBudget(analyst3, { id: budgetId })
  assert.deepEqual([mine.epsilonSpent, mine.epsilonLeft, mine.analystEpsilonBudget, mine.datasetEpsilonLeft, mine.grant], [10, 5, 15, 10, null])
  assert.deepEqual(mine.queryTerms, { defaultEpsilon: 0.1, minEpsilon: 0.05, delta: 1e-7, bounds: { amount: [0, 100] }, exactQueriesLeft: null })
  // Analyst share is 15: another ε = 10 overspends it, though the dataset has 10 left.
  await assert.rejects(runQuery(analyst3, { id: budgetId, sql, epsilon: 10 }), (e) => isW3aError(e, 'JOB_FAILED') && /budget-exhausted/.test(e.message))
  // Another analyst spends the dataset's last ε; after that nobody gets more.
  const r2 = await runQuery(analyst2, { id: budgetId, sql, epsilon: 10 })
  assert.equal(r2.privacy.epsilonLeft, 0)
  assert.equal(r2.privacy.analystEpsilonLeft, 5)
  assert.deepEqual([(await readAnalystBudget(analyst3, { id: budgetId })).epsilonLeft, (await readAnalystBudget(analyst2, { id: budgetId })).datasetEpsilonLeft], [0, 0])
  // Exhausted: refused whatever ε is asked (the policy default, the minimum, a tiny one, an exact answer); nothing is charged.
  for (const epsilon of [undefined, 0.05, 1, 0.000001, 0]) {
    await assert.rejects(runQuery(analyst3, { id: budgetId, sql: 'SELECT count(*) FROM data', ...(epsilon === undefined ? {} : { epsilon }) }), (e) => isW3aError(e, 'JOB_FAILED') && /budget-exhausted|access-denied/.test(e.message), `ε ${epsilon}`)
  }
  assert.equal((await readAnalystBudget(analyst3, { id: budgetId })).epsilonSpent, 10)
  // Each refusal was the analyst's doing (Jobs.isAnalystFault): 1 answered + 6 refused of 8 credits.
  assert.equal((await getCredits(analyst3, { id: budgetId })).credits, 1n, 'custody refusals use their credit')
})

test('without open access, nobody pays for nothing: the market sells only to buyers the owner admits, and keepers let them query', async () => {
  const closedId = (await uploadDataset(owner, { file: csv, name: 'closed', privacyUnit: 'user_id' })).id
  await setDatasetPolicy(owner, { id: closedId, policy: policy({ openAccess: false }) })
  await listOnMarket(owner, { id: closedId, price: TOKEN, summary: `k=${K}; admitted buyers only` })
  await assert.rejects(buyCredits(analyst, { id: closedId, credits: 3n }), (e) => isW3aError(e, 'NOT_ADMITTED') && /market access/.test(e.details.join('\n')))
  // No grant, no ε to read: the keeper refuses as for a stranger.
  await assert.rejects(readAnalystBudget(analyst, { id: closedId }), (e) => isW3aError(e, 'ACCESS_DENIED') && e.details.includes('reason: not-authorized'))
  await setBuyerAccess(owner, { id: closedId, admit: [devAccount(2).address] })
  await buyCredits(analyst, { id: closedId, credits: 3n })
  const sql = 'SELECT count(*) AS n FROM data'
  // An admitted buyer with no grant names its ε: keepers answer the policy's query terms only to grantees and open access (docs/analyst.md).
  const ok = await runQuery(analyst, { id: closedId, sql, epsilon: 0.1 })
  assert.equal(ok.rows.length, 1)
  assert.equal((await getCredits(analyst, { id: closedId })).credits, 2n)
  // No longer admitted: the unused credits come back.
  await setBuyerAccess(owner, { id: closedId, remove: [devAccount(2).address] })
  const refund = await refundCredits(analyst, { id: closedId })
  assert.equal(refund.credits, 2n)
})

test('no credit, no job: refused before anything is sent', async () => {
  const stranger = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: devAccount(4) })
  await assert.rejects(submitQuery(stranger, { id: datasetId, sql: 'SELECT count(*) FROM data' }), (e) => isW3aError(e, 'NO_CREDITS'))
  await assert.rejects(submitQuery(analyst, { id: datasetId, sql: 'SELECT count(*) FROM data', epsilon: -1 }), (e) => isW3aError(e, 'ANALYSIS_MALFORMED'))
  await assert.rejects(submitQuery(analyst, { id: datasetId, sql: 'x'.repeat(20_001) }), (e) => isW3aError(e, 'ANALYSIS_MALFORMED'))
  // A finished job cannot be timed out.
  await assert.rejects(timeoutJob(analyst, { id: 0n }), (e) => isW3aError(e, 'INVALID_ARGUMENT') && /completed/.test(e.message))
})

test('the owner earns from completed jobs and claims', async () => {
  const e = await getEarnings(owner, {})
  assert.ok(e.claimable.amount > 0n)
  const c = await claimEarnings(owner)
  assert.equal(c.claimed.amount, e.claimable.amount)
  assert.equal((await getEarnings(owner, {})).claimable.amount, 0n)
})

test('CLI: w3a query prints the released table as JSON; w3a job verify checks it without an account', async () => {
  // Asynchronously: the gateway runs in this process and must keep answering.
  const run = (...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, ...args, '--gateway', devnet.gatewayUrl, '--data-dir', devnet.dataDir, '--json'], { encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) =>
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
      )
    })
  // No privacy flag: the policy's ε per query.
  const q = await run('query', datasetId, '--sql', 'SELECT count(*) AS n, avg(amount) AS mean FROM data', '--account', '2')
  assert.equal(q.status, 0, q.stderr)
  const out = JSON.parse(q.stdout) as { jobId: string; rows: unknown[][]; privacy: { suppressed: number | null; mechanism: string; epsilonSpent: number } }
  assert.equal(out.rows.length, 1)
  assert.deepEqual([out.privacy.suppressed, out.privacy.mechanism, out.privacy.epsilonSpent], [null, 'discrete-laplace', 0.1])
  const v = await run('job', 'verify', out.jobId)
  assert.equal(v.status, 0, v.stderr)
  assert.equal((JSON.parse(v.stdout) as { verified: boolean }).verified, true)
  // Refused on this machine by the worker's checker: no transaction, so no credit used and no job.
  const creditsBefore = await getCredits(analyst, { id: datasetId })
  const jobs = (await listJobs(reader, {})).length
  for (const [sql, extra, message] of [
    ['SELECT user_id FROM data', [], /identifier column user_id in the output/],
    ['SELECT city, count(*) FROM data GROUP BY cty', [], /unknown column cty/],
    ['SELECT city, stddev(amount) AS s FROM data GROUP BY city', ['--epsilon', '0.5'], /stddev with differential privacy/],
    ['SELECT sum(amount) FROM data WHERE city = \'Paris\'', ['--exact'], /WHERE in an exact query/],
  ] as const) {
    const bad = await run('query', datasetId, '--sql', sql, ...extra, '--account', '2')
    assert.notEqual(bad.status, 0, sql)
    const error = (JSON.parse(bad.stdout) as { error: { code: string; message: string } }).error
    assert.equal(error.code, 'QUERY_REFUSED', sql)
    assert.match(error.message, message, sql)
  }
  assert.deepEqual(await getCredits(analyst, { id: datasetId }), creditsBefore)
  assert.equal((await listJobs(reader, {})).length, jobs)
  // What only the owner's confidential policy refuses (no exact answers here) still goes to the job.
  const policyRefused = await run('query', datasetId, '--sql', 'SELECT max(amount) FROM data', '--exact', '--account', '2')
  assert.notEqual(policyRefused.status, 0)
  assert.equal((JSON.parse(policyRefused.stdout) as { error: { code: string } }).error.code, 'JOB_FAILED')
  const job = await getJob(reader, { id: BigInt(out.jobId) })
  assert.equal(job.status, 'completed')

  // No --gateway: the CLI finds the devnet through the run.json in --data-dir, says so on
  // stderr, and `market credits` shows the analyst's ε left beside the credits.
  const env = { ...process.env }
  delete env['W3A_GATEWAY']
  const c = await new Promise<{ err: Error | null; stdout: string; stderr: string }>((resolve) =>
    execFile(process.execPath, [BIN, 'market', 'credits', datasetId, '--account', '2', '--data-dir', join(work, 'devnet'), '--json'], { encoding: 'utf8', timeout: 120_000, env }, (err, stdout, stderr) =>
      resolve({ err, stdout, stderr }),
    ),
  )
  assert.equal(c.err, null, c.stderr)
  assert.ok(c.stderr.includes(`using gateway ${devnet.gatewayUrl} (from `), c.stderr)
  const credits = JSON.parse(c.stdout) as { credits: string; privacy: { available: boolean; analystEpsilonBudget: number; datasetEpsilonLeft: number; epsilonLeft: number } }
  assert.equal(credits.privacy.available, true)
  const mine = await readAnalystBudget(analyst, { id: datasetId })
  assert.deepEqual([credits.privacy.analystEpsilonBudget, credits.privacy.datasetEpsilonLeft, credits.privacy.epsilonLeft], [15, mine.datasetEpsilonLeft, mine.epsilonLeft])
  assert.ok(Number(credits.credits) > 0)
})
