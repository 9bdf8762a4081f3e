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

// Exact answers (the owner opted in): plain aggregates of bare measures over the whole dataset.
const CASES = [
  'SELECT count(*) FROM data',
  'SELECT count(DISTINCT uid) AS units FROM data',
  'SELECT sum(amount) AS s, sum(visits) FROM data',
  'SELECT avg(amount), avg(visits) FROM data',
  'SELECT stddev(amount), stddev_pop(visits) FROM data',
  'SELECT count(amount), variance(visits), var_samp(amount), var_pop(visits) FROM data',
  'SELECT quantile_cont(amount, 0.5) AS med, approx_quantile(visits, 0.75) FROM data',
  'SELECT median(amount), quantile_cont(visits, 0.25) FROM data',
  'SELECT count(*) AS n, sum(amount) FROM data ORDER BY n LIMIT 1',
]

function norm(rows: unknown[][], ordered: boolean): string[] {
  const s = rows.map((r) => JSON.stringify(r.map((v) => (typeof v === 'bigint' ? v.toString() : typeof v === 'number' ? Number(v.toPrecision(10)) : v))))
  return ordered ? s : s.sort()
}

test('oracle: exact answers == DuckDB on the plaintext; with fewer than k units in all, nothing', async () => {
  const inst = await DuckDBInstance.create(':memory:')
  const conn = await inst.connect()
  await conn.run(`CREATE TABLE data AS ${DATASET_SQL}`)
  for (const sql of CASES) {
    const expected = (await conn.runAndReadAll(sql)).getRows()
    const got = await runSqlAnalysis({ segmentFiles: ds.files, privacyUnit: 'uid', policy: POLICY, sql, epsilon: 0 })
    assert.deepEqual(norm(got.rows, true), norm(expected, true), sql)
    assert.equal(got.privacy.mechanism, 'none')
    assert.equal(got.privacy.epsilonSpent, 0)
    assert.equal(got.privacy.suppressed, null)
    assert.ok(!got.columns.some((col) => col.name.startsWith('__w3a')))
    // k above the dataset's 150 units: nothing is released.
    const few = await runSqlAnalysis({ segmentFiles: ds.files, privacyUnit: 'uid', policy: parsePolicy({ ...POLICY, k: 151 }), sql, epsilon: 0 })
    assert.deepEqual([few.rows, few.privacy.suppressed], [[], null], sql)
  }
  conn.closeSync()
  inst.closeSync()
})

test('exact answers: nothing that selects or transforms values, and only where the owner opted in', async () => {
  const refused = [
    "SELECT count(*) FROM data WHERE device = 'mobile'",
    'SELECT device, count(*) FROM data GROUP BY device',
    'SELECT region, count(*) AS n FROM data GROUP BY region HAVING count(*) > 400',
    'SELECT region, sum(amount * visits) / sum(visits) AS weighted FROM data GROUP BY region',
    "SELECT region, sum(CASE WHEN device = 'mobile' THEN 1 ELSE 0 END) AS mobiles FROM data GROUP BY region",
    'SELECT lower(region) AS r, count(*) FROM data GROUP BY region',
    'SELECT region, count(DISTINCT device) FROM data GROUP BY region',
    'SELECT device, quantile_cont(amount, 1.0) FROM data GROUP BY device',
    'SELECT device, approx_quantile(visits, 0.9) FROM data GROUP BY device',
    'SELECT device, avg(amount) FROM data GROUP BY device ORDER BY ln(avg(amount))',
    'SELECT exp(sum(amount)) FROM data',
  ]
  for (const q of refused) {
    await assert.rejects(runSqlAnalysis({ segmentFiles: ds.files, privacyUnit: 'uid', policy: POLICY, sql: q, epsilon: 0 }), (e) => isW3aError(e, 'QUERY_REFUSED'), q)
  }
  const dpOnly = parsePolicy({ ...POLICY, allowExact: false })
  await assert.rejects(runSqlAnalysis({ segmentFiles: ds.files, privacyUnit: 'uid', policy: dpOnly, sql: 'SELECT count(*) FROM data', epsilon: 0 }), (e) => isW3aError(e, 'QUERY_REFUSED') && /exact answer/.test(e.message))
  await assert.rejects(runSqlAnalysis({ segmentFiles: ds.files, privacyUnit: 'uid', policy: dpOnly, sql: 'SELECT count(*) FROM data', epsilon: 0.01 }), (e) => isW3aError(e, 'QUERY_REFUSED') && /minimum ε/.test(e.message))
  // No ε named: the policy's default, DP.
  const d = await runSqlAnalysis({ segmentFiles: ds.files, privacyUnit: 'uid', policy: dpOnly, sql: 'SELECT count(*) FROM data' })
  assert.deepEqual([d.privacy.mechanism, d.privacy.epsilonSpent, d.privacy.delta], ['discrete-laplace', dpOnly.defaultEpsilon, dpOnly.delta])
})

test('DP: noisy release carries mechanism, scale and ε; differencing two queries stays noisy', async () => {
  // ε 8: with 150 units over 3 regions, a small ε would withhold every region (partition selection, below).
  const base = { segmentFiles: ds.files, privacyUnit: 'uid', policy: POLICY, epsilon: 8, bounds: { amount: [0, 100] as const }, contribution: { maxRowsPerUnit: 20, maxGroupsPerUnit: 1 } }
  const a = await runSqlAnalysis({ ...base, sql: 'SELECT region, count(*) AS n, sum(amount) AS s, avg(amount) AS a FROM data GROUP BY region ORDER BY region', rng: seededRng(3n) })
  assert.equal(a.privacy.mechanism, 'discrete-laplace')
  assert.equal(a.privacy.epsilonSpent, 8)
  assert.equal(a.privacy.epsilonLeft, 2)
  assert.deepEqual(Object.keys(a.privacy.noiseScale).sort(), ['a', 'n', 's'])
  // 4 quantities (count, n(amount), s(amount), and the unit count that selects groups) → ε/4
  // each; count sensitivity C = 20.
  assert.equal(a.privacy.noiseScale.n, 10)
  // G groups a unit may reach multiply the noise only where there are groups: a total (one row)
  // is moved by one unit in that row alone. With GROUP BY, G = 5 is 5× the noise.
  const g5 = { ...base, contribution: { maxRowsPerUnit: 20, maxGroupsPerUnit: 5 } }
  const total = await runSqlAnalysis({ ...g5, sql: 'SELECT count(*) AS n, sum(amount) AS s FROM data', rng: seededRng(4n) })
  assert.equal(total.privacy.noiseScale.n, 20 / (8 / 3)) // 3 quantities: count, s(amount), units
  const grouped = await runSqlAnalysis({ ...g5, sql: 'SELECT region, count(*) AS n FROM data GROUP BY region', rng: seededRng(4n) })
  assert.equal(grouped.privacy.noiseScale.n, (5 * 20) / (8 / 2))
  assert.equal(a.privacy.suppressed, null)
  assert.equal(a.privacy.delta, POLICY.delta)
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
  // Bounds wider than the owner's would raise the sensitivity past what was promised.
  await assert.rejects(runSqlAnalysis({ ...base, bounds: { amount: [0, 1000] }, sql: 'SELECT sum(amount) FROM data' }), (e) => isW3aError(e, 'QUERY_REFUSED') && /bounds/.test(e.message))
  await assert.rejects(runSqlAnalysis({ ...base, sql: 'SELECT stddev(amount) FROM data' }), (e) => isW3aError(e, 'QUERY_REFUSED'))
})

test('DP contribution bounding spreads units over groups: with one group per unit, the groups keep their share', async () => {
  // visits varies row by row, so each unit has rows in many of its 17 values: which one a unit
  // keeps must vary by unit (a hash of the key alone would send every unit to the same group).
  const policy = parsePolicy({ ...POLICY, columns: { identifiers: ['uid', 'email'], dimensions: ['visits'], measures: ['amount'] }, bounds: { amount: [0, 200] } })
  const units = await runSqlAnalysis({
    segmentFiles: ds.files,
    privacyUnit: 'uid',
    policy,
    epsilon: 10,
    contribution: { maxRowsPerUnit: 1, maxGroupsPerUnit: 1 },
    sql: 'SELECT visits, count(DISTINCT uid) AS u FROM data GROUP BY visits',
    rng: seededRng(5n),
  })
  const counts = units.rows.map((r) => Number(r[1]))
  assert.ok(units.rows.length >= 5, `groups released: ${units.rows.length} (${counts.join(',')})`)
  assert.ok(Math.max(...counts) < 60, `150 units over 17 groups: ${counts.join(',')}`)
})

test('a dataset with no privacy unit: each row is its own unit, and the row number is an identifier', async () => {
  const inst = await DuckDBInstance.create(':memory:')
  const conn = await inst.connect()
  await conn.run(`CREATE TABLE data AS ${DATASET_SQL}`)
  const sql = 'SELECT count(*) AS n, count(DISTINCT __w3a_row) AS u, sum(visits) FROM data'
  const got = await runSqlAnalysis({ segmentFiles: ds.files, privacyUnit: null, policy: POLICY, sql, epsilon: 0 })
  const expected = (await conn.runAndReadAll('SELECT count(*), count(*), sum(visits) FROM data')).getRows()
  assert.deepEqual(norm(got.rows, true), norm(expected, true)) // 2,000 rows are 2,000 units
  assert.deepEqual(got.columns.map((c) => c.name), ['n', 'u', 'sum(visits)'])
  for (const bad of [`SELECT ${ROW_UNIT} FROM data`, `SELECT plan, max(${ROW_UNIT}) FROM data GROUP BY plan`]) {
    for (const epsilon of [0, 1]) await assert.rejects(runSqlAnalysis({ segmentFiles: ds.files, privacyUnit: null, policy: POLICY, sql: bad, epsilon }), (e) => isW3aError(e, 'QUERY_REFUSED'), bad)
  }
  conn.closeSync()
  inst.closeSync()
})

test('DP partition selection: a group just above k is withheld unless its noisy unit count clears k + ⌈b·ln(G/δ)⌉', async () => {
  const sql = 'SELECT plan, count(*) AS n FROM data GROUP BY plan ORDER BY plan'
  const base = { segmentFiles: ds.files, privacyUnit: 'uid', policy: POLICY, sql, contribution: { maxRowsPerUnit: 20, maxGroupsPerUnit: 1 } }
  // Units per plan: free ≈ 128, pro ≈ 21, rare 1 (under k = 5).
  // δ = 1e-7 (policy). ε 1 over 2 quantities (count, units): b = 2, so ≥ 5 + 33 noisy units; ε 8: b = 0.25, ≥ 5 + 5.
  const strict = await runSqlAnalysis({ ...base, epsilon: 1, rng: seededRng(11n) })
  assert.deepEqual(strict.rows.map((r) => r[0]), ['free'])
  assert.deepEqual([strict.privacy.suppressed, strict.privacy.delta], [null, 1e-7])
  const loose = await runSqlAnalysis({ ...base, epsilon: 8, rng: seededRng(11n) })
  assert.deepEqual(loose.rows.map((r) => r[0]), ['free', 'pro'])
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

test('DP contribution bounding keeps the same rows of a unit whatever order the segments are read in', async () => {
  // One row per unit: which one is kept must not depend on DuckDB's scan order, or a sum (and
  // any ratio of sums) changes with how the segments happen to be read.
  const base = { privacyUnit: 'uid', policy: POLICY, epsilon: 8, bounds: { amount: [0, 200] as const }, contribution: { maxRowsPerUnit: 1, maxGroupsPerUnit: 1 }, noiseSeed: new Uint8Array(32).fill(3) }
  const sql = 'SELECT sum(amount) AS s, count(*) AS n FROM data'
  const forward = await runSqlAnalysis({ ...base, sql, segmentFiles: ds.files })
  const backward = await runSqlAnalysis({ ...base, sql, segmentFiles: [...ds.files].reverse() })
  assert.deepEqual(backward.rows.map((r) => r.map(String)), forward.rows.map((r) => r.map(String)))
})

test('DP with a job noise seed: re-running the job gives the same numbers, whatever the row order', async () => {
  // The replay attack of a worker operator who is also the analyst: run one job many times
  // and average the noise away. With the job's seed every run draws the same noise.
  const base = { segmentFiles: ds.files, privacyUnit: 'uid', policy: POLICY, epsilon: 8, bounds: { amount: [0, 100] as const }, contribution: { maxRowsPerUnit: 20, maxGroupsPerUnit: 1 } }
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
  const inst = await DuckDBInstance.create(':memory:')
  const conn = await inst.connect()
  await conn.run(`CREATE TABLE data AS ${DATASET_SQL}`)
  // The DP count counts ≤ 20 rows per unit (contribution bound): the true value it noises.
  const exact = (await conn.runAndReadAll('SELECT region, count(*) FROM (SELECT region, uid, least(count(*), 20) AS c FROM data GROUP BY ALL), range(1, 21) t(i) WHERE i <= c GROUP BY region ORDER BY region')).getRows()
  conn.closeSync()
  inst.closeSync()
  const hidden = await runSqlAnalysis({ ...base, sql: 'SELECT count(*) AS n FROM data GROUP BY region ORDER BY region', noiseSeed: jobSeed })
  const offsets = hidden.rows.map((r, i) => Number(r[0]) - Number(exact[i]![1]))
  assert.equal(offsets.length, 3)
  assert.ok(new Set(offsets).size > 1, `every group got the same noise offset ${offsets[0]}`)
})
