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
import { dateRange, parseSiteQuery, shapeSiteRows, siteQuerySql, withComparison, type SiteQueryInput } from './plausible-query.js'

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

async function run(input: SiteQueryInput, now = T0 + 3_600_000) {
  const q = parseSiteQuery(input)
  const plan = siteQuerySql(q, dateRange(q.date_range, now))
  // The worker's checker accepts it under the site's own policy (DP); exact answers (where the
  // policy allows them) cover the whole site only: no WHERE, no GROUP BY.
  const parser = await openSqlParser()
  try {
    const columns = SITE_SCHEMA.columns.map((c) => c.name)
    const policy = parsePolicy(SITE_POLICY)
    const whole = q.date_range === 'all' && q.dimensions.length === 0 && q.filters.length === 0
    if (whole) await checkSql(parser, plan.sql, { columns, privacyUnit: SITE_PRIVACY_UNIT, policy: { ...policy, allowExact: true }, dp: false })
    const dp = await checkSql(parser, plan.sql, { columns, privacyUnit: SITE_PRIVACY_UNIT, policy, dp: true })
    await planDpQuery(parser, dp, { privacyUnit: SITE_PRIVACY_UNIT, bounds: policy.bounds })
  } finally {
    parser.close()
  }
  const dir = mkdtempSync(join(tmpdir(), 'w3a-pq-'))
  try {
    writeFileSync(join(dir, 's.parquet'), await siteRowsToParquet(rows()))
    const conn = await (await DuckDBInstance.create(':memory:')).connect()
    await conn.run(`CREATE VIEW data AS SELECT * FROM read_parquet('${join(dir, 's.parquet')}')`)
    const r = await conn.runAndReadAll(plan.sql)
    const columns = r.columnNames()
    const out = r.getRows().map((row) => row.map((v) => (typeof v === 'bigint' ? Number(v) : v)))
    return { q, plan, columns, rows: out, shaped: shapeSiteRows(q, plan, columns, out) }
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
    for (const bad of [{ metrics: ['time_on_site'] }, { metrics: ['visitors'], dimensions: ['event:props:plan'] }, { metrics: ['visitors'], order_by: [['pageviews', 'desc']] }, { metrics: ['visitors'], filters: [['matches', 'event:page', ['.*']]] }, { metrics: ['visitors'], date_range: ['yesterday', 'today'] }]) {
      assert.throws(() => {
        const q = parseSiteQuery({ site_id: 'x', ...bad })
        dateRange(q.date_range, T0)
      }, (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'), JSON.stringify(bad))
    }
  })
})
