import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import { parsePolicy } from '../custody/policy.js'
import { withSandboxedDuckDb } from '../storage/duckdb-sandbox.js'
import { planDpQuery } from './dp-query.js'
import { runSqlAnalysis } from './run-analysis.js'
import { checkSql, UNITS_ALIAS } from './sql-checker.js'
import { openSqlParser, type SqlParserHandle } from './sql-parser.js'

let parser: SqlParserHandle
let dir: string
before(async () => {
  parser = await openSqlParser()
  dir = await mkdtemp(join(tmpdir(), 'w3a-dp-query-test-'))
})
after(async () => {
  parser.close()
  await rm(dir, { recursive: true, force: true })
})

/**
 * The Stats-shaped query below: ~65 MB without (unit, group) rows for its few-row units; holding
 * them (as before) needed 90–100 MB.
 */
const MEMORY_LIMIT = '80MB'
const C = 4
const G = 3
/**
 * 60 units (uid), each in ≤ G regions (so no group is dropped and the reference below needs no
 * hash): u % 3 = 0, 2 rows in two regions; 1, 3 rows in one (≤ min(G, C) rows: kept as they are);
 * 2, 9 rows, 6 in one region and 3 in another (6 > C: its sum is scaled to C values' worth).
 * Some amounts are NULL, some above the bound 100 (clamped).
 */
const ROWS_SQL = `
  SELECT uid, region, amount FROM (
    SELECT u AS uid, j,
      CASE WHEN u % 3 = 0 THEN 'r' || ((u + j) % 4) WHEN u % 3 = 1 THEN 'r' || (u % 4) ELSE 'r' || ((u + (j // 6)) % 4) END AS region,
      CASE WHEN (u + j) % 7 = 0 THEN NULL WHEN (u * j) % 11 = 5 THEN 150.0 ELSE ((u * 13 + j * 7) % 90)::DOUBLE END AS amount
    FROM range(60) a(u), range(9) b(j)
    WHERE j < CASE u % 3 WHEN 0 THEN 2 WHEN 1 THEN 3 ELSE 9 END)`

test('contribution bounding with G > 1: units with few rows and units with many give the bounded sums, counts and value lists', async () => {
  const policy = parsePolicy({ k: 2, epsilonBudget: 10, columns: { identifiers: ['uid'], dimensions: ['region'], measures: ['amount'] }, bounds: { amount: [0, 100] } })
  const sql = 'SELECT region, count(*) AS n, sum(amount) AS s, median(amount) AS med FROM data GROUP BY region ORDER BY region'
  const checked = await checkSql(parser, sql, { columns: ['uid', 'region', 'amount'], privacyUnit: 'uid', policy, dp: true })
  const plan = await planDpQuery(parser, checked, { privacyUnit: 'uid', bounds: { amount: [0, 100] }, contribution: { maxRowsPerUnit: C, maxGroupsPerUnit: G } })
  const inst = await DuckDBInstance.create(':memory:')
  const conn = await inst.connect()
  try {
    await conn.run(`CREATE TABLE data AS ${ROWS_SQL}`)
    const rows = (await conn.runAndReadAll('SELECT uid, region, amount FROM data')).getRows() as [bigint, string, number | null][]
    // The reference: per (unit, region) k rows, n non-null amounts, t their clamped sum.
    const cells = new Map<string, { region: string; k: number; n: number; t: number }>()
    for (const [uid, region, amount] of rows) {
      const cell = cells.get(`${uid}/${region}`) ?? { region, k: 0, n: 0, t: 0 }
      cell.k++
      if (amount !== null) {
        cell.n++
        cell.t += Math.min(100, Math.max(0, amount))
      }
      cells.set(`${uid}/${region}`, cell)
    }
    const expected = new Map<string, { units: number; c: number; s: number; n: number }>()
    for (const cell of cells.values()) {
      const e = expected.get(cell.region) ?? { units: 0, c: 0, s: 0, n: 0 }
      e.units++
      e.c += Math.min(cell.k, C)
      e.n += Math.min(cell.n, C)
      e.s += cell.n <= C ? cell.t : (cell.t * C) / cell.n
      expected.set(cell.region, e)
    }
    assert.ok([...cells.values()].some((x) => x.n > C), 'some unit is scaled')
    const got = await conn.runAndReadAll(plan.sql)
    const at = (name: string) => got.columnNames().indexOf(name)
    const out = got.getRows().map((r) => ({ region: String(r[0]), units: Number(r[at(UNITS_ALIAS)]), c: Number(r[at('__c')]), s: Number(r[at('__s0')]), n: Number(r[at('__n0')]), values: (r[at('__l0')] as { items: unknown[] }).items.length }))
    assert.deepEqual(out.map((x) => x.region), [...expected.keys()].sort())
    for (const x of out) {
      const e = expected.get(x.region)!
      assert.deepEqual([x.units, x.c, x.n, x.values], [e.units, e.c, e.n, e.n], x.region)
      assert.ok(Math.abs(x.s - e.s) < 1e-6, `${x.region}: sum ${x.s}, expected ${e.s}`)
    }
  } finally {
    conn.closeSync()
    inst.closeSync()
  }
})

test('a Stats-shaped query (one row per unit and group, 4 measures, G = 5) runs in a memory that held every (unit, group) row before', async () => {
  // 600,000 events, 5 a visitor, each on its own page (as bench:stats's "top pages"): every unit
  // has ≤ min(G, C) rows, so no (unit, group) row is held.
  const file = join(dir, 'events.parquet')
  await withSandboxedDuckDb({ dirs: [dir] }, async (c) => {
    await c.run(`COPY (SELECT 'v' || (i // 5) AS visitor_id, '/p/' || ((i // 5 * 7 + i % 5) % 200) AS page, CAST(i % 5 = 0 AS INTEGER) AS session_start,
      CAST(i % 5 <> 4 AS INTEGER) AS pageview, CAST(CASE i % 5 WHEN 0 THEN 1 WHEN 1 THEN -1 ELSE 0 END AS INTEGER) AS bounce, CAST(20 * (i % 5) AS DOUBLE) AS duration_s
      FROM range(600000) t(i)) TO '${file}' (FORMAT parquet)`)
  })
  const policy = parsePolicy({
    k: 5,
    epsilonBudget: 10,
    columns: { identifiers: ['visitor_id'], dimensions: ['page'], measures: ['session_start', 'pageview', 'bounce', 'duration_s'] },
    bounds: { session_start: [0, 1], pageview: [0, 1], bounce: [-1, 1], duration_s: [0, 1800] },
  })
  const r = await runSqlAnalysis({
    segmentFiles: [file],
    privacyUnit: 'visitor_id',
    policy,
    epsilon: 1,
    sql: 'SELECT page, count(DISTINCT visitor_id) AS visitors, sum(session_start), sum(pageview), sum(bounce), sum(duration_s) FROM data GROUP BY page',
    contribution: { maxRowsPerUnit: 10, maxGroupsPerUnit: 5 },
    memoryLimit: MEMORY_LIMIT,
  })
  assert.equal(r.rows.length, 200)
  // 3,000 visitors a page; noise of scale G·1/(ε/5) = 25 on it.
  for (const row of r.rows) assert.ok(Math.abs(Number(row[1]) - 3000) < 600, String(row[1]))
})
