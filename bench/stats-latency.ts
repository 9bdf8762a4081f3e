/**
 * Stats API latency for bench:ingest (issue 12): a 30-day Plausible query over a site of
 * W3A_BENCH_STATS_EVENTS events (default 10,000,000), as the worker answers it, against plain
 * DuckDB answering the same SQL over the plaintext Parquet, in the same run.
 *
 * Setup (not timed): DuckDB writes the events in the site schema (src/enclave/ingest-segments.ts:
 * 5 events a visit, one visit a visitor, 30 days, 200 pages, a Signup with a plan property ending
 * each visit) as segments of 1M rows, each sealed with a site key as the ingest worker seals them
 * (sealSiteSegment: envelope, UnixFS, CAR) and kept in memory.
 *
 * Timed, per query (the Stats API's translation, siteQuerySql):
 *  - worker: the sealed CARs → every block checked, decrypted into memory files (loadSegments, as
 *    a job's data is opened) → runSqlAnalysis under the site policy (checker, DP plan with the
 *    site's contribution bounds, gate);
 *  - plain DuckDB: the same SQL as the checker writes it (WHERE and expression keys inside TRY),
 *    without DP, over the plaintext Parquet files.
 * Not in it: the job's chain round trips (submit, assignment, result), which bench:job measures.
 * Answers must agree: every group DP releases is in the plain answer, its first figure within 5 %
 * or 12 noise scales (the bench exits non-zero otherwise).
 */
import { DuckDBInstance } from '@duckdb/node-api'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { W3aError } from '../src/core/errors.js'
import { createMemoryFiles } from '../src/analysis/memory-files.js'
import { loadSegments } from '../src/analysis/load-segments.js'
import { runSqlAnalysis } from '../src/analysis/run-analysis.js'
import { checkSql } from '../src/analysis/sql-checker.js'
import { openSqlParser } from '../src/analysis/sql-parser.js'
import { parsePolicy } from '../src/custody/policy.js'
import { SITE_COLUMNS, SITE_POLICY, SITE_PRIVACY_UNIT, SITE_SCHEMA, sealSiteSegment, type SealedSegment } from '../src/enclave/ingest-segments.js'
import { SITE_CONTRIBUTION } from '../src/sdk/actions/querySite.js'
import { dateRange, parseSiteQuery, siteQuerySql, type SiteQueryInput } from '../src/sdk/plausible-query.js'
import type { Goal } from '../src/sdk/site-goals.js'
import { sqlString } from '../src/storage/duckdb-sandbox.js'

const SEGMENT_ROWS = 1_000_000
const DAY_MS = 86_400_000

/** The site schema's columns from a row number i (5 events a visit), in SITE_COLUMNS order. */
function generatedRows(n: number, start: number, from: number, to: number): string {
  const cols: Record<string, string> = {
    ts: `make_timestamp(CAST((${start} + i * ${Math.floor((30 * DAY_MS) / n)}) * 1000 AS BIGINT))`,
    visitor_id: `'v' || (i // 5)`,
    session_id: `'s' || (i // 5)`,
    name: `CASE WHEN i % 5 = 4 THEN 'Signup' ELSE 'pageview' END`,
    page: `'/p/' || ((i // 5 * 7 + i % 5) % 200)`,
    hostname: `'shop.example'`,
    source: `CASE (i // 5) % 4 WHEN 0 THEN 'Google' WHEN 1 THEN 'Direct / None' WHEN 2 THEN 'Newsletter' ELSE 'Bing' END`,
    channel: `CASE (i // 5) % 4 WHEN 0 THEN 'Organic Search' WHEN 1 THEN 'Direct' WHEN 2 THEN 'Email' ELSE 'Organic Search' END`,
    utm_source: `''`, utm_medium: `''`, utm_campaign: `''`, utm_content: `''`, utm_term: `''`,
    entry_page: `'/p/' || ((i // 5 * 7) % 200)`,
    exit_page: `'/p/' || ((i // 5 * 7 + 3) % 200)`,
    device: `CASE (i // 5) % 3 WHEN 0 THEN 'Desktop' WHEN 1 THEN 'Mobile' ELSE 'Tablet' END`,
    browser: `'Firefox'`, os: `'GNU/Linux'`, country: `'DE'`,
    props: `CASE WHEN i % 5 = 4 THEN '{"plan":"' || CASE (i // 5) % 2 WHEN 0 THEN 'pro' ELSE 'free' END || '"}' ELSE '' END`,
    revenue_amount: `CAST(NULL AS DOUBLE)`, revenue_currency: `''`,
    pageview: `CAST(i % 5 <> 4 AS INTEGER)`,
    session_start: `CAST(i % 5 = 0 AS INTEGER)`,
    bounce: `CAST(CASE i % 5 WHEN 0 THEN 1 WHEN 1 THEN -1 ELSE 0 END AS INTEGER)`,
    duration_s: `CAST(CASE WHEN i % 5 = 0 THEN 0 ELSE 20 END AS DOUBLE)`,
  }
  const derived: Record<string, string> = { hour: `strftime(ts, '%Y-%m-%d %H:00:00')`, day: `strftime(ts, '%Y-%m-%d')`, week: `strftime(date_trunc('week', ts), '%Y-%m-%d')`, month: `strftime(ts, '%Y-%m')` }
  const first = Object.entries(cols).map(([k, v]) => `${v} AS ${k}`).join(', ')
  return `SELECT ${SITE_COLUMNS.map((c) => c.name).join(', ')} FROM (SELECT *, ${Object.entries(derived).map(([k, v]) => `${v} AS ${k}`).join(', ')} FROM (SELECT ${first} FROM range(${from}, ${to}) t(i)))`
}

type Timed = { name: string; worker: number; plain: number; groups: number; agree: boolean; note: string }

const QUERIES: [string, SiteQueryInput][] = [
  ['top pages, 30d', { site_id: 'bench', metrics: ['visitors', 'visits', 'pageviews', 'bounce_rate', 'visit_duration'], date_range: '30d', dimensions: ['event:page'] }],
  ['sources by day, 30d', { site_id: 'bench', metrics: ['visitors', 'pageviews'], date_range: '30d', dimensions: ['time:day', 'visit:source'] }],
  ['goals and a property, 30d', { site_id: 'bench', metrics: ['visitors', 'events'], date_range: '30d', dimensions: ['event:goal', 'event:props:plan'] }],
]
const GOALS: Goal[] = [{ event: 'Signup' }, { page: '/p/1*' }]

async function* carOf(car: Uint8Array): AsyncGenerator<Uint8Array> {
  yield car
}

export async function benchStatsLatency(work: string, events: number, memoryLimit?: string): Promise<Timed[]> {
  const now = Date.now()
  const start = Math.floor(now / DAY_MS) * DAY_MS - 29 * DAY_MS
  const dir = join(work, 'stats')
  await mkdir(dir, { recursive: true })
  const t0 = performance.now()
  const plainFiles: string[] = []
  const sealed: SealedSegment[] = []
  const dek = randomBytes(32)
  const site = `0x${randomBytes(32).toString('hex')}` as const
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' })
  const conn = await instance.connect()
  const segments = Math.ceil(events / SEGMENT_ROWS)
  for (let s = 0; s < segments; s++) {
    const file = join(dir, `plain-${s}.parquet`)
    await conn.run(`COPY (${generatedRows(events, start, s * SEGMENT_ROWS, Math.min(events, (s + 1) * SEGMENT_ROWS))}) TO ${sqlString(file)} (FORMAT parquet)`)
    plainFiles.push(file)
    sealed.push(await sealSiteSegment({ dek: new Uint8Array(dek), site, segmentIndex: s, parquet: new Uint8Array(await readFile(file)) }))
  }
  conn.closeSync()
  instance.closeSync()
  console.log(`  setup: ${events.toLocaleString('en')} events in ${segments} sealed segments (${(sealed.reduce((n, x) => n + x.car.length, 0) / 1e6).toFixed(0)} MB of CAR) in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

  const policy = parsePolicy({ ...SITE_POLICY, defaultEpsilon: 1, epsilonBudget: 10, analystEpsilonBudget: 10 })
  const manifest = { datasetId: site, segments: sealed.map((x, i) => ({ cid: x.cid, rows: Math.min(SEGMENT_ROWS, events - i * SEGMENT_ROWS), size: x.size })) }
  const out: Timed[] = []
  for (const [name, input] of QUERIES) {
    const q = parseSiteQuery(input)
    const plan = siteQuerySql(q, dateRange(q.date_range, now), GOALS)
    // Worker: the job's data opened from the sealed CARs, then the checked DP query.
    const w0 = performance.now()
    const memory = createMemoryFiles()
    let answer
    let failed = ''
    try {
      const loaded = await loadSegments({ manifest, dek, memory, fetchCar: (cid) => carOf(sealed.find((x) => x.cid.equals(cid))!.car) })
      // The worker's own settings (runner defaults: 30 s, 1 GB, no spilling); W3A_BENCH_STATS_MEMORY tries another memory limit.
      answer = await runSqlAnalysis({ segmentFiles: loaded.files, schema: SITE_SCHEMA.columns, privacyUnit: SITE_PRIVACY_UNIT, policy, sql: plan.sql, epsilon: 1, contribution: SITE_CONTRIBUTION, ...(memoryLimit ? { memoryLimit } : {}) })
    } catch (e) {
      // A job over the worker's limits (30 s, 1 GB without spilling) fails with one fixed text.
      failed = e instanceof W3aError ? e.shortMessage : String((e as Error).message).split('\n')[0]!
    } finally {
      await memory.close()
    }
    const worker = performance.now() - w0
    // Plain DuckDB: the checker's form of the SQL (not timed: made on the analyst's side too) over the plaintext files, no DP.
    const parser = await openSqlParser()
    const checked = await checkSql(parser, plan.sql, { columns: SITE_SCHEMA.columns.map((c) => c.name), privacyUnit: SITE_PRIVACY_UNIT, policy, dp: true }).finally(() => parser.close())
    const p0 = performance.now()
    const plain = await DuckDBInstance.create(':memory:', { threads: '2' })
    const pc = await plain.connect()
    await pc.run(`CREATE VIEW data AS SELECT * FROM read_parquet([${plainFiles.map(sqlString).join(', ')}])`)
    const truth = await pc.runAndReadAll(checked.sql)
    pc.closeSync()
    plain.closeSync()
    const plainMs = performance.now() - p0
    // Agreement: every released group exists in the plain answer, its first figure within 5 %.
    const dims = q.dimensions.length
    const key = (row: unknown[]) => JSON.stringify(row.slice(0, dims).map((v) => (v === null ? null : String(v))))
    const truthRows = new Map(truth.getRows().map((r) => [key(r), Number(r[dims])]))
    if (!answer) {
      out.push({ name, worker, plain: plainMs, groups: 0, agree: false, note: `the worker's job failed: ${failed}` })
      continue
    }
    // Within 5 %, or 12 noise scales (a Laplace draw beyond that: e^-12 each) of the released figure.
    const scale = answer.privacy.noiseScale[answer.columns[dims]!.name] ?? 0
    let agree = answer.rows.length > 0
    for (const r of answer.rows) {
      const t = truthRows.get(key(r))
      const v = Number(r[dims])
      if (t === undefined || Math.abs(v - t) > Math.max(0.05 * t, 12 * scale)) {
        if (agree) console.log(`    ${name}: group ${key(r)} released ${v}, plain ${t}`)
        agree = false
      }
    }
    out.push({ name, worker, plain: plainMs, groups: answer.rows.length, agree, note: `${answer.rows.length} of ${truthRows.size} groups released` })
  }
  return out
}
