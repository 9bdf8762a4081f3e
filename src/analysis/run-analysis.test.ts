import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { after, before, test } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import { isW3aError } from '../core/errors.js'
import { chargeBudget, EMPTY_LEDGER } from './budget.js'
import { DATASET_SQL, makeDataset, POLICY, seededRng } from './fixture.test.js'
import { ROW_UNIT, runSqlAnalysis } from './run-analysis.js'
import { parsePolicy } from '../custody/policy.js'

let ds: { dir: string; files: string[] }
before(async () => {
  ds = await makeDataset()
})
after(async () => {
  await rm(ds.dir, { recursive: true, force: true })
})

type Case = { select: string; where?: string; groupBy?: string; having?: string; orderBy?: string; limit?: number }
const CASES: Case[] = [
  { select: 'count(*)' },
  { select: 'count(DISTINCT uid) AS units' },
  { select: 'region, count(*) AS n', groupBy: 'region' },
  { select: 'region, count(DISTINCT uid)', groupBy: 'region' },
  { select: 'region, sum(amount) AS s', groupBy: 'region' },
  { select: 'region, avg(amount)', groupBy: 'region' },
  { select: 'device, stddev(amount), stddev_pop(visits)', groupBy: 'device' },
  { select: 'region, device, count(*), sum(visits)', groupBy: 'region, device' },
  { select: 'plan, count(*)', groupBy: 'plan' },
  { select: 'plan, region, avg(visits)', groupBy: 'plan, region' },
  { select: 'region, quantile_cont(amount, 0.5) AS med', groupBy: 'region' },
  { select: 'device, approx_quantile(visits, 0.9)', groupBy: 'device' },
  { select: 'region, count(*)', where: "device = 'mobile'", groupBy: 'region' },
  { select: 'region, sum(amount)', where: 'amount > 20 AND visits BETWEEN 2 AND 10', groupBy: 'region' },
  { select: 'device, count(*)', where: "region IN ('north', 'tiny') OR plan = 'rare'", groupBy: 'device' },
  { select: 'region, count(*) AS n', groupBy: 'region', having: 'count(*) > 400' },
  { select: 'region, device, avg(amount) AS a', groupBy: 'region, device', orderBy: 'a DESC' },
  { select: 'region, count(*) AS n', groupBy: 'region', orderBy: 'n DESC', limit: 2 },
  { select: 'plan, device, count(*)', groupBy: 'plan, device', orderBy: 'plan, device', limit: 5 },
  { select: 'region, var_samp(amount), count(DISTINCT device)', groupBy: 'region' },
  { select: 'region, sum(amount * visits) / sum(visits) AS weighted', groupBy: 'region' },
  { select: "region, sum(CASE WHEN device = 'mobile' THEN 1 ELSE 0 END) AS mobiles", groupBy: 'region' },
  { select: 'lower(region) AS r, count(*)', where: 'lower(device) LIKE \'%top\'', groupBy: 'region' },
  { select: 'plan, count(*)', where: 'amount IS NOT NULL', groupBy: 'plan', having: 'avg(amount) > 10', orderBy: '2' },
]

function sql(c: Case, extraHaving?: string): string {
  const having = [c.having, extraHaving].filter(Boolean).map((h) => `(${h})`).join(' AND ')
  return [`SELECT ${c.select} FROM data`, c.where && `WHERE ${c.where}`, c.groupBy && `GROUP BY ${c.groupBy}`, having && `HAVING ${having}`, c.orderBy && `ORDER BY ${c.orderBy}`, c.limit !== undefined && `LIMIT ${c.limit}`]
    .filter(Boolean)
    .join(' ')
}

function norm(rows: unknown[][], ordered: boolean): string[] {
  const s = rows.map((r) => JSON.stringify(r.map((v) => (typeof v === 'bigint' ? v.toString() : typeof v === 'number' ? Number(v.toPrecision(10)) : v))))
  return ordered ? s : s.sort()
}

test('oracle: with noise off, released rows == DuckDB on the plaintext minus groups of < k units', async () => {
  const inst = await DuckDBInstance.create(':memory:')
  const conn = await inst.connect()
  await conn.run(`CREATE TABLE data AS ${DATASET_SQL}`)
  let suppressedSomewhere = 0
  for (const c of CASES) {
    const expected = (await conn.runAndReadAll(sql(c, `count(DISTINCT uid) >= ${POLICY.k}`))).getRows()
    const got = await runSqlAnalysis({ segmentFiles: ds.files, privacyUnit: 'uid', policy: POLICY, sql: sql(c) })
    assert.deepEqual(norm(got.rows, c.orderBy !== undefined), norm(expected, c.orderBy !== undefined), sql(c))
    assert.equal(got.privacy.mechanism, 'none')
    assert.equal(got.privacy.epsilonSpent, 0)
    assert.ok(!got.columns.some((col) => col.name.startsWith('__w3a')))
    suppressedSomewhere += got.privacy.suppressed ?? 0
  }
  assert.ok(CASES.length >= 20)
  assert.ok(suppressedSomewhere > 0, 'the fixture has small groups that must be suppressed')
  conn.closeSync()
  inst.closeSync()
})

test('DP: noisy release carries mechanism, scale and ε; differencing two queries stays noisy', async () => {
  // δ 0.05: with 150 units over 3 regions, the default 1e-6 would withhold every region (below).
  const base = { segmentFiles: ds.files, privacyUnit: 'uid', policy: POLICY, epsilon: 1, delta: 0.05, bounds: { amount: [0, 100] as const }, contribution: { maxRowsPerUnit: 20, maxGroupsPerUnit: 1 } }
  const a = await runSqlAnalysis({ ...base, sql: 'SELECT region, count(*) AS n, sum(amount) AS s, avg(amount) AS a FROM data GROUP BY region ORDER BY region', rng: seededRng(3n) })
  assert.equal(a.privacy.mechanism, 'discrete-laplace')
  assert.equal(a.privacy.epsilonSpent, 1)
  assert.equal(a.privacy.epsilonLeft, 9)
  assert.deepEqual(Object.keys(a.privacy.noiseScale).sort(), ['a', 'n', 's'])
  // 4 quantities (count, n(amount), s(amount), and the unit count that selects groups) → ε/4
  // each; count sensitivity C = 20.
  assert.equal(a.privacy.noiseScale.n, 80)
  assert.equal(a.privacy.suppressed, null)
  assert.equal(a.privacy.delta, 0.05)
  assert.deepEqual(a.rows.map((r) => r[0]), ['east', 'north', 'south'])
  // Differencing: "everyone" minus "everyone but one unit's group" would isolate that unit; with DP
  // the difference over repeated runs has the noise's spread, not a fixed value.
  const diffs: number[] = []
  for (let i = 0; i < 12; i++) {
    const all = await runSqlAnalysis({ ...base, sql: 'SELECT count(*) FROM data', rng: seededRng(100n + BigInt(i)) })
    const rest = await runSqlAnalysis({ ...base, sql: "SELECT count(*) FROM data WHERE plan <> 'rare'", rng: seededRng(200n + BigInt(i)) })
    diffs.push(Number(all.rows[0]![0]) - Number(rest.rows[0]![0]))
  }
  assert.ok(new Set(diffs).size > 6, `differences vary: ${diffs.join(',')}`)
  await assert.rejects(runSqlAnalysis({ ...base, sql: 'SELECT sum(visits) FROM data' }), (e) => isW3aError(e, 'QUERY_REFUSED') && /bounds/.test(e.message))
  await assert.rejects(runSqlAnalysis({ ...base, sql: 'SELECT stddev(amount) FROM data' }), (e) => isW3aError(e, 'QUERY_REFUSED'))
})

test('DP contribution bounding spreads units over groups: with one group per unit, the groups keep their share', async () => {
  // visits varies row by row, so each unit has rows in many of its 17 values: which one a unit
  // keeps must vary by unit (a hash of the key alone would send every unit to the same group).
  const policy = parsePolicy({ ...POLICY, columns: { identifiers: ['uid', 'email'], dimensions: ['visits'], measures: ['amount'] } })
  const units = await runSqlAnalysis({
    segmentFiles: ds.files,
    privacyUnit: 'uid',
    policy,
    epsilon: 10,
    delta: 0.1,
    contribution: { maxRowsPerUnit: 1, maxGroupsPerUnit: 1 },
    sql: 'SELECT visits, count(DISTINCT uid) AS u FROM data GROUP BY visits',
    rng: seededRng(5n),
  })
  const counts = units.rows.map((r) => Number(r[1]))
  assert.ok(units.rows.length >= 8, `groups released: ${units.rows.length} (${counts.join(',')})`)
  assert.ok(Math.max(...counts) < 60, `150 units over 17 groups: ${counts.join(',')}`)
})

test('a dataset with no privacy unit: each row is its own unit, and the row number is an identifier', async () => {
  const inst = await DuckDBInstance.create(':memory:')
  const conn = await inst.connect()
  await conn.run(`CREATE TABLE data AS ${DATASET_SQL}`)
  const sql = "SELECT plan, count(*) AS n FROM data WHERE region <> 'north' GROUP BY plan ORDER BY plan"
  const got = await runSqlAnalysis({ segmentFiles: ds.files, privacyUnit: null, policy: POLICY, sql })
  const expected = (await conn.runAndReadAll(`${sql.replace(' ORDER BY plan', '')} HAVING count(*) >= ${POLICY.k} ORDER BY plan`)).getRows()
  assert.deepEqual(norm(got.rows, true), norm(expected, true))
  assert.deepEqual(got.columns.map((c) => c.name), ['plan', 'n'])
  for (const bad of [`SELECT ${ROW_UNIT} FROM data`, `SELECT plan, max(${ROW_UNIT}) FROM data GROUP BY plan`]) {
    await assert.rejects(runSqlAnalysis({ segmentFiles: ds.files, privacyUnit: null, policy: POLICY, sql: bad }), (e) => isW3aError(e, 'QUERY_REFUSED'), bad)
  }
  conn.closeSync()
  inst.closeSync()
})

test('DP partition selection: a group just above k is withheld unless its noisy unit count clears k + ⌈b·ln(G/δ)⌉', async () => {
  const sql = 'SELECT plan, count(*) AS n FROM data GROUP BY plan ORDER BY plan'
  const base = { segmentFiles: ds.files, privacyUnit: 'uid', policy: POLICY, sql, contribution: { maxRowsPerUnit: 20, maxGroupsPerUnit: 1 } }
  // Units per plan: free ≈ 128, pro ≈ 21, rare 1 (under k = 5).
  const plain = await runSqlAnalysis(base)
  assert.deepEqual(plain.rows.map((r) => r[0]), ['free', 'pro'])
  assert.equal(plain.privacy.suppressed, 1)
  // ε 1 over 2 quantities (count, units): b = 2, so δ 1e-6 needs ≥ 5 + 28 noisy units, δ 0.1 ≥ 5 + 5.
  const strict = await runSqlAnalysis({ ...base, epsilon: 1, rng: seededRng(11n) })
  assert.deepEqual(strict.rows.map((r) => r[0]), ['free'])
  assert.deepEqual([strict.privacy.suppressed, strict.privacy.delta], [null, 1e-6])
  const loose = await runSqlAnalysis({ ...base, epsilon: 1, delta: 0.1, rng: seededRng(11n) })
  assert.deepEqual(loose.rows.map((r) => r[0]), ['free', 'pro'])
  await assert.rejects(runSqlAnalysis({ ...base, epsilon: 1, delta: 0.5 }), (e) => isW3aError(e, 'INVALID_ARGUMENT') && /delta/.test(e.message))
})

test('budget: a query that would overspend is refused before it runs; the ledger is unchanged', async () => {
  let ledger = EMPTY_LEDGER
  ledger = chargeBudget({ policy: POLICY, ledger, analyst: '0xAA', epsilon: 9.5 }).ledger
  const before = JSON.stringify([ledger.spent, [...ledger.perAnalyst]])
  await assert.rejects(
    runSqlAnalysis({ segmentFiles: ['/nonexistent/never-opened.parquet'], privacyUnit: 'uid', policy: POLICY, sql: 'SELECT count(*) FROM data', epsilon: 1, ledger, analyst: '0xaa' }),
    (e) => isW3aError(e, 'BUDGET_EXHAUSTED'),
  )
  assert.throws(() => chargeBudget({ policy: POLICY, ledger, analyst: '0xbb', epsilon: 0.6 }), (e) => isW3aError(e, 'BUDGET_EXHAUSTED'))
  assert.equal(JSON.stringify([ledger.spent, [...ledger.perAnalyst]]), before)
  // Per-analyst share.
  assert.throws(() => chargeBudget({ policy: POLICY, ledger: EMPTY_LEDGER, analyst: '0xcc', analystBudget: 1, epsilon: 1.5 }), (e) => isW3aError(e, 'BUDGET_EXHAUSTED'))
  const ok = chargeBudget({ policy: POLICY, ledger, analyst: '0xbb', epsilon: 0.5 })
  assert.equal(ok.epsilonLeft, 0)
})

test('DP with a job noise seed: re-running the job gives the same numbers, whatever the row order', async () => {
  // The replay attack of a worker operator who is also the analyst: run one job many times
  // and average the noise away. With the job's seed every run draws the same noise.
  const base = { segmentFiles: ds.files, privacyUnit: 'uid', policy: POLICY, epsilon: 1, delta: 0.05, bounds: { amount: [0, 100] as const }, contribution: { maxRowsPerUnit: 20, maxGroupsPerUnit: 1 } }
  const jobSeed = new Uint8Array(32).fill(1)
  const q = 'SELECT region, count(*) AS n, sum(amount) AS s FROM data GROUP BY region'
  const runs = []
  for (let i = 0; i < 5; i++) runs.push(await runSqlAnalysis({ ...base, sql: `${q} ORDER BY region ${i % 2 ? 'DESC' : 'ASC'}`, noiseSeed: jobSeed }))
  const byRegion = (rows: unknown[][]) => JSON.stringify([...rows].map((r) => r.map(String)).sort())
  for (const r of runs) assert.equal(byRegion(r.rows), byRegion(runs[0]!.rows))
  // Another job (another seed) draws other noise.
  const other = await runSqlAnalysis({ ...base, sql: `${q} ORDER BY region`, noiseSeed: new Uint8Array(32).fill(2) })
  assert.notEqual(byRegion(other.rows), byRegion(runs[0]!.rows))
  // Groups keyed by a GROUP BY column that is not in the output still get their own noise:
  // equal noise in every group would release exact differences between groups.
  const exact = await runSqlAnalysis({ segmentFiles: ds.files, privacyUnit: 'uid', policy: POLICY, sql: 'SELECT region, count(*) FROM data GROUP BY region ORDER BY region' })
  const hidden = await runSqlAnalysis({ ...base, sql: 'SELECT count(*) AS n FROM data GROUP BY region ORDER BY region', noiseSeed: jobSeed })
  const offsets = hidden.rows.map((r, i) => Number(r[0]) - Number(exact.rows[i]![1]))
  assert.equal(offsets.length, 3)
  assert.ok(new Set(offsets).size > 1, `every group got the same noise offset ${offsets[0]}`)
})
