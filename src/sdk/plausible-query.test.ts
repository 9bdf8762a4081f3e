import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { DuckDBInstance } from '@duckdb/node-api'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isW3aError } from '../core/errors.js'
import { parsePolicy } from '../custody/policy.js'
import { checkSql } from '../analysis/sql-checker.js'
import { planDpQuery } from '../analysis/dp-query.js'
import { openSqlParser } from '../analysis/sql-parser.js'
import { SITE_POLICY, SITE_PRIVACY_UNIT, SITE_SCHEMA, siteRowsToParquet, type SegmentRow } from '../enclave/ingest-segments.js'
import { runFunctionAnalysis } from '../analysis/unit-function/run-function.js'
import { seededRng } from '../analysis/fixture.test.js'
import { comparisonRange, conversionTotalsQuery, dateRange, orderAndPage, parseSiteQuery, resolveFilter, shapeSiteRows, siteQuerySql, siteRows, timeOnPagePlan, withComparison, withConversionRate, withTimeOnPage, type SiteQueryInput } from './plausible-query.js'
import type { Goal } from './site-goals.js'
import { funnelFunction, type UnitFunctionPlan } from './site-unit-functions.js'

const T0 = Date.UTC(2026, 11, 2, 10)
const base: SegmentRow = { ts: T0, visitor: 'v', session: 's', name: 'pageview', page: '/', hostname: 'shop.example', source: 'Direct / None', channel: 'Direct', utmSource: '', utmMedium: '', utmCampaign: '', utmContent: '', utmTerm: '', entryPage: '/', device: 'Desktop', browser: 'Firefox', os: 'GNU/Linux', props: '', revenueAmount: '', revenueCurrency: '', sessionStart: 1, bounce: 1, durationS: 0 }

/** Three visitors: a bounce from Google, a two-page visit of 60 s with a Signup, and yesterday's visitor. */
function rows(): SegmentRow[] {
  return [
    { ...base, visitor: 'a', session: 'sa', source: 'Google', channel: 'Organic Search' },
    { ...base, visitor: 'b', session: 'sb', ts: T0 + 1000 },
    { ...base, visitor: 'b', session: 'sb', ts: T0 + 31_000, page: "/pricing'; DROP", sessionStart: 0, bounce: -1, durationS: 30 },
    { ...base, visitor: 'b', session: 'sb', ts: T0 + 61_000, name: 'Signup', page: "/pricing'; DROP", sessionStart: 0, bounce: 0, durationS: 30 },
    { ...base, visitor: 'c', session: 'sc', ts: T0 - 86_400_000 },
  ]
}

async function run(input: SiteQueryInput, now = T0 + 3_600_000, data: SegmentRow[] = rows(), goals: Goal[] = []) {
  const q = parseSiteQuery(input)
  const plan = siteQuerySql(q, dateRange(q.date_range, now), goals)
  // The worker's checker accepts it under the site's own policy (DP); exact answers (where the
  // policy allows them) cover the whole site only: no WHERE, no GROUP BY.
  const parser = await openSqlParser()
  let checked: string
  try {
    const columns = SITE_SCHEMA.columns.map((c) => c.name)
    const policy = parsePolicy(SITE_POLICY)
    const whole = q.date_range === 'all' && q.dimensions.length === 0 && q.filters.length === 0
    if (whole) await checkSql(parser, plan.sql, { columns, privacyUnit: SITE_PRIVACY_UNIT, policy: { ...policy, allowExact: true }, dp: false })
    const dp = await checkSql(parser, plan.sql, { columns, privacyUnit: SITE_PRIVACY_UNIT, policy, dp: true })
    await planDpQuery(parser, dp, { privacyUnit: SITE_PRIVACY_UNIT, bounds: policy.bounds })
    // The worker runs the checked form (WHERE and expression keys inside TRY).
    checked = dp.sql
  } finally {
    parser.close()
  }
  const dir = mkdtempSync(join(tmpdir(), 'w3a-pq-'))
  try {
    writeFileSync(join(dir, 's.parquet'), await siteRowsToParquet(data))
    const conn = await (await DuckDBInstance.create(':memory:')).connect()
    await conn.run(`CREATE VIEW data AS SELECT * FROM read_parquet('${join(dir, 's.parquet')}')`)
    const r = await conn.runAndReadAll(checked)
    const columns = r.columnNames()
    const out = r.getRows().map((row) => row.map((v) => (typeof v === 'bigint' ? Number(v) : v)))
    return { q, plan, columns, rows: out, shaped: shapeSiteRows(q, plan, columns, out), unordered: siteRows(q, plan, columns, out) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('Plausible Stats API v2 → checked SQL over the site dataset', () => {
  it('aggregate metrics: visitors, visits, pageviews, views per visit, bounce rate, visit duration, events', async () => {
    const { shaped } = await run({ site_id: 'shop.example', metrics: ['visitors', 'visits', 'pageviews', 'views_per_visit', 'bounce_rate', 'visit_duration', 'events'], date_range: 'day' })
    // Today: a (1 page, bounced) and b (2 pages, 60 s); c was yesterday.
    assert.deepEqual(shaped, [{ dimensions: [], metrics: [2, 2, 3, 1.5, 50, 30, 4] }])
    const all = await run({ site_id: 'shop.example', metrics: ['visitors', 'pageviews', 'events'], date_range: 'all' })
    assert.deepEqual(all.shaped, [{ dimensions: [], metrics: [3, 4, 5] }])
  })

  it('dimensions, filters (values quoted, never SQL), order_by and pagination', async () => {
    const pages = await run({ site_id: 'x', metrics: ['visitors', 'pageviews'], date_range: 'day', dimensions: ['event:page'] })
    assert.deepEqual(pages.shaped, [{ dimensions: ['/', ], metrics: [2, 2] }, { dimensions: ["/pricing'; DROP"], metrics: [1, 1] }])
    const filtered = await run({ site_id: 'x', metrics: ['pageviews'], date_range: 'day', filters: [['is', 'event:page', ["/pricing'; DROP"]]] })
    assert.deepEqual(filtered.shaped, [{ dimensions: [], metrics: [1] }])
    const notGoogle = await run({ site_id: 'x', metrics: ['visitors'], date_range: 'all', filters: [['not', ['contains', 'visit:source', ['oog']]]], dimensions: ['visit:source'] })
    assert.deepEqual(notGoogle.shaped, [{ dimensions: ['Direct / None'], metrics: [2] }])
    const asc = await run({ site_id: 'x', metrics: ['visitors'], date_range: 'day', dimensions: ['visit:source'], order_by: [['visitors', 'asc']], pagination: { limit: 1, offset: 0 } })
    assert.equal(asc.shaped.length, 1)
    assert.equal(asc.shaped[0]!.metrics[0], 1)
  })

  it('custom date ranges and time dimensions', async () => {
    const byDay = await run({ site_id: 'x', metrics: ['visitors'], date_range: ['2026-12-01', '2026-12-02'], dimensions: ['time:day'] })
    assert.deepEqual(byDay.shaped, [{ dimensions: ['2026-12-01'], metrics: [1] }, { dimensions: ['2026-12-02'], metrics: [2] }])
    const hour = await run({ site_id: 'x', metrics: ['events'], date_range: ['2026-12-02T10:00:30Z', '2026-12-02T11:00:00Z'], dimensions: ['time:hour'] })
    assert.deepEqual(hour.shaped, [{ dimensions: ['2026-12-02 10:00:00'], metrics: [2] }])
  })

  it('previous period comparison matches rows by dimension', () => {
    const q = parseSiteQuery({ site_id: 'x', metrics: ['visitors'], dimensions: ['visit:source'] })
    const out = withComparison(q, [{ dimensions: ['Google'], metrics: [20] }, { dimensions: ['Bing'], metrics: [5] }], [{ dimensions: ['Google'], metrics: [10] }])
    assert.deepEqual(out.map((r) => r.comparison), [{ dimensions: ['Google'], metrics: [10], change: [100] }, { dimensions: ['Bing'], metrics: [null], change: [null] }])
  })

  it('refuses unknown metrics, dimensions and order_by names before anything runs', () => {
    for (const bad of [{ metrics: ['time_on_site'] }, { metrics: ['visitors'], dimensions: ['event:props:a"b'] }, { metrics: ['conversion_rate'] }, { metrics: ['time_on_page'], dimensions: ['visit:source'] }, { metrics: ['visitors'], order_by: [['pageviews', 'desc']] }, { metrics: ['visitors'], filters: [['matches', 'event:page', ['.*']]] }, { metrics: ['visitors'], date_range: ['yesterday', 'today'] }]) {
      assert.throws(() => {
        const q = parseSiteQuery({ site_id: 'x', ...bad })
        dateRange(q.date_range, T0)
      }, (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'), JSON.stringify(bad))
    }
  })

  it('year over year compares with the same dates a year earlier', () => {
    const range = dateRange(['2026-02-27', '2026-03-01'], T0)!
    assert.deepEqual(comparisonRange('year_over_year', range).map((ms) => new Date(ms).toISOString().slice(0, 10)), ['2025-02-27', '2025-03-02'])
    assert.deepEqual(comparisonRange('previous_period', range).map((ms) => new Date(ms).toISOString().slice(0, 10)), ['2026-02-24', '2026-02-27'])
    assert.equal(parseSiteQuery({ site_id: 'x', metrics: ['visitors'], include: { comparisons: { mode: 'year_over_year' } } }).include?.comparisons?.mode, 'year_over_year')
  })
})

// Goals and custom properties: a, b, d and e today; b and d sign up (plan pro / free), d after /thanks.
const GOALS: Goal[] = [{ event: 'Signup' }, { page: '/thank*' }, { page: '/' }]
function shopRows(): SegmentRow[] {
  const at = (s: number) => T0 + s * 1000
  const pv = (visitor: string, s: number, page: string, more: Partial<SegmentRow> = {}): SegmentRow => ({ ...base, visitor, session: `s${visitor}`, ts: at(s), page, entryPage: page, ...more })
  return [
    pv('a', 0, '/'),
    pv('b', 1, '/'),
    pv('b', 41, '/', { name: 'Signup', props: '{"plan":"pro"}', sessionStart: 0, bounce: 0, durationS: 40 }),
    pv('d', 2, '/thanks'),
    pv('d', 5, '/thanks', { name: 'Signup', props: '{"plan":"free","n":3}', sessionStart: 0, bounce: 0, durationS: 3 }),
    pv('d', 95, '/', { sessionStart: 0, bounce: -1, durationS: 90 }),
    pv('e', 3, '/pricing'),
  ]
}

/** A per-unit function over the rows as the worker runs it (the site policy, DP with a large ε so the sums are near exact). */
async function runFunction(fn: UnitFunctionPlan, data: SegmentRow[]): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'w3a-pqf-'))
  try {
    writeFileSync(join(dir, 's.parquet'), await siteRowsToParquet(data))
    const policy = parsePolicy({ ...SITE_POLICY, epsilonBudget: 100_000, analystEpsilonBudget: 100_000, minEpsilon: 100, defaultEpsilon: 100 })
    const r = await runFunctionAnalysis({ segmentFiles: [join(dir, 's.parquet')], schema: SITE_SCHEMA.columns, privacyUnit: SITE_PRIVACY_UNIT, policy, fn, epsilon: 50_000, rng: seededRng(3n) })
    return r.rows[0]!.slice(0, -1).map(Number)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const near = (x: number | undefined, want: number, tol = 0.05) => assert.ok(x !== undefined && Math.abs(x - want) <= tol, `${x} ≉ ${want}`)

describe('goals, custom properties, conversion rate, time on page and funnels', () => {
  it('event:goal groups by the site goals (the first a row completes); conversion_rate divides by the visitors without the goal', async () => {
    const input: SiteQueryInput = { site_id: 'x', metrics: ['visitors', 'events', 'conversion_rate'], date_range: 'day', dimensions: ['event:goal'] }
    const main = await run(input, undefined, shopRows(), GOALS)
    const q = main.q
    const tq = conversionTotalsQuery(q)
    assert.deepEqual([tq.dimensions, tq.metrics], [[], ['visitors']])
    const totals = await run(tq as SiteQueryInput, undefined, shopRows(), GOALS)
    assert.deepEqual(totals.shaped, [{ dimensions: [], metrics: [4] }])
    const shaped = orderAndPage(q, withConversionRate(q, main.unordered, totals.unordered))
    // b and d signed up (2 of 4: 50 %); d saw /thanks; a, b and d (later) saw /.
    assert.deepEqual(shaped, [
      { dimensions: ['Signup'], metrics: [2, 2, 50] },
      { dimensions: ['Visit /'], metrics: [3, 3, 75] },
      { dimensions: ['Visit /thank*'], metrics: [1, 1, 25] },
    ].sort((x, y) => y.metrics[0]! - x.metrics[0]! || (x.dimensions[0]! < y.dimensions[0]! ? -1 : 1)))
    const filtered = await run({ site_id: 'x', metrics: ['visitors'], date_range: 'day', filters: [['is', 'event:goal', ['Signup']]] }, undefined, shopRows(), GOALS)
    assert.deepEqual(filtered.shaped, [{ dimensions: [], metrics: [2] }])
    assert.throws(() => siteQuerySql(parseSiteQuery({ site_id: 'x', metrics: ['visitors'], filters: [['is', 'event:goal', ['Nope']]] }), null, GOALS), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
    assert.throws(() => siteQuerySql(parseSiteQuery({ site_id: 'x', metrics: ['visitors'], dimensions: ['event:goal'] }), null, []), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
  })

  it('event:props:NAME groups by a custom property ("(none)" without it), and filters on it', async () => {
    const byPlan = await run({ site_id: 'x', metrics: ['visitors', 'events'], date_range: 'day', dimensions: ['event:props:plan'] }, undefined, shopRows(), GOALS)
    assert.deepEqual(byPlan.shaped, [{ dimensions: ['(none)'], metrics: [4, 5] }, { dimensions: ['free'], metrics: [1, 1] }, { dimensions: ['pro'], metrics: [1, 1] }])
    const n = await run({ site_id: 'x', metrics: ['events'], date_range: 'day', dimensions: ['event:props:n'], filters: [['is', 'event:props:plan', ['free']]] }, undefined, shopRows(), GOALS)
    assert.deepEqual(n.shaped, [{ dimensions: ['3'], metrics: [1] }])
  })

  it('time_on_page: seconds to the next page view of the visit, for the site and per page (a function job)', async () => {
    const site = parseSiteQuery({ site_id: 'x', metrics: ['time_on_page'], date_range: 'day' })
    const range = dateRange(site.date_range, T0 + 3_600_000)
    const whole = await runFunction(timeOnPagePlan(site, range, GOALS, [{ dimensions: [], metrics: [null] }])!, shopRows())
    // b's / is left 40 s later but for an event, not a page: untimed; d's /thanks: 3 + 90 s to /.
    near(whole[0], 93 / 60)
    near(whole[1], 1)
    const q = parseSiteQuery({ site_id: 'x', metrics: ['pageviews', 'time_on_page'], date_range: 'day', dimensions: ['event:page'] })
    const pages = [{ dimensions: ['/'], metrics: [3, null] }, { dimensions: ['/thanks'], metrics: [1, null] }]
    const fn = timeOnPagePlan(q, range, GOALS, pages)!
    const sums = await runFunction(fn, shopRows())
    const timed = withTimeOnPage(q, pages, sums).map((r) => r.metrics[1])
    assert.equal(timed[0], null)
    // The gate releases real sums on a grid of sensitivity / 1000 (here 0.12): 1.56 min / 0.96 views.
    near(timed[1]!, 93, 6)
    // A filter selects the same rows as in SQL: not from /thanks' visitor's source.
    const none = await runFunction(timeOnPagePlan(parseSiteQuery({ site_id: 'x', metrics: ['time_on_page'], filters: [['is_not', 'event:page', ['/thanks']]] }), range, GOALS, [])!, shopRows())
    near(none[1], 0)
  })

  it('a funnel counts the visitors who completed its steps in order; filters read like the SQL', async () => {
    const range = dateRange('day', T0 + 3_600_000)
    const steps = [{ page: '/' }, { event: 'Signup' }] satisfies Goal[]
    // a reached /; b / then Signup; d signed up before seeing /: step 1 only.
    const sums = await runFunction(funnelFunction({ range, goals: GOALS, filters: [], steps }), shopRows())
    near(sums[0], 3)
    near(sums[1], 1)
    const filters = parseSiteQuery({ site_id: 'x', metrics: ['visitors'], filters: [['not', ['contains', 'event:props:plan', ['pr']]]] }).filters
    const sql = await run({ site_id: 'x', metrics: ['events'], date_range: 'day', filters }, undefined, shopRows(), GOALS)
    const js = await runFunction(funnelFunction({ range, goals: GOALS, filters: filters.map(resolveFilter), steps: [{ event: 'Signup' }, { event: 'Signup' }] }), shopRows())
    // SQL: NOT (NULL LIKE …) is NULL, so only d's Signup (plan free) passes; the function agrees.
    assert.deepEqual(sql.shaped, [{ dimensions: [], metrics: [1] }])
    near(js[0], 1)
  })
})
