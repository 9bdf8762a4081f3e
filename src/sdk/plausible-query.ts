/**
 * Plausible's Stats API v2 query (https://plausible.io/docs/stats-api) over a site's dataset:
 * parsed and bounded here, translated into one SQL aggregate over the site schema
 * (src/enclave/ingest-segments.ts) that the worker's checker accepts as it is, and the job's
 * released rows shaped back into Plausible's response. Every name that reaches the SQL is one of
 * ours (a dimension maps to a fixed column); filter values and dates travel as quoted literals.
 *
 * Metrics come from flat sums (no subqueries or window functions in a checked query):
 *   visitors        count(DISTINCT visitor_id)   (the privacy unit: a visitor of one day)
 *   visits          sum(session_start)
 *   pageviews       sum(pageview)
 *   events          count(*)
 *   views_per_visit pageviews / visits
 *   bounce_rate     100 · sum(bounce) / visits   (bounce: +1 first page view, −1 second)
 *   visit_duration  sum(duration_s) / visits     (seconds)
 */
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { sqlString } from '../storage/sql-literal.js'

export const SITE_METRICS = ['visitors', 'visits', 'pageviews', 'views_per_visit', 'bounce_rate', 'visit_duration', 'events'] as const
export type SiteMetric = (typeof SITE_METRICS)[number]

/** Plausible dimension → the site schema column it groups by. */
export const SITE_DIMENSIONS = {
  'event:page': 'page',
  'event:name': 'name',
  'event:goal': 'name',
  'event:hostname': 'hostname',
  'visit:source': 'source',
  'visit:channel': 'channel',
  'visit:utm_source': 'utm_source',
  'visit:utm_medium': 'utm_medium',
  'visit:utm_campaign': 'utm_campaign',
  'visit:utm_content': 'utm_content',
  'visit:utm_term': 'utm_term',
  'visit:entry_page': 'entry_page',
  'visit:exit_page': 'exit_page',
  'visit:device': 'device',
  'visit:browser': 'browser',
  'visit:os': 'os',
  'visit:country': 'country',
  'time:hour': 'hour',
  'time:day': 'day',
  'time:week': 'week',
  'time:month': 'month',
  time: 'day',
} as const
export type SiteDimension = keyof typeof SITE_DIMENSIONS

/** The sums each metric is made of (SQL output names). */
const NEEDS: Record<SiteMetric, readonly string[]> = {
  visitors: ['visitors'],
  visits: ['visits'],
  pageviews: ['pageviews'],
  events: ['events'],
  views_per_visit: ['pageviews', 'visits'],
  bounce_rate: ['bounces', 'visits'],
  visit_duration: ['duration', 'visits'],
}
const AGGREGATE: Record<string, string> = {
  visitors: 'count(DISTINCT visitor_id)',
  visits: 'sum(session_start)',
  pageviews: 'sum(pageview)',
  events: 'count(*)',
  bounces: 'sum(bounce)',
  duration: 'sum(duration_s)',
}

const dimension = z.enum(Object.keys(SITE_DIMENSIONS) as [SiteDimension, ...SiteDimension[]])
const DATE = /^\d{4}-\d{2}-\d{2}$/
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})$/
const value = z.string().max(300)
type Filter = [string, ...unknown[]]
const filter: z.ZodType<Filter> = z.lazy(() =>
  z.union([
    z.tuple([z.enum(['is', 'is_not', 'contains', 'contains_not']), dimension, z.array(value).min(1).max(50)]),
    z.tuple([z.enum(['and', 'or']), z.array(filter).min(1).max(20)]),
    z.tuple([z.literal('not'), filter]),
  ]),
) as z.ZodType<Filter>

export const siteQuerySchema = z.strictObject({
  site_id: z.string().min(1).max(253),
  metrics: z.array(z.enum(SITE_METRICS)).min(1).max(SITE_METRICS.length),
  date_range: z.union([z.enum(['day', '7d', '30d', 'month', '6mo', '12mo', 'year', 'all']), z.tuple([z.string(), z.string()])]).default('7d'),
  dimensions: z.array(dimension).max(3).default([]),
  filters: z.array(filter).max(20).default([]),
  order_by: z.array(z.tuple([z.string(), z.enum(['asc', 'desc'])])).max(5).optional(),
  pagination: z.strictObject({ limit: z.number().int().min(1).max(10_000).default(10_000), offset: z.number().int().min(0).default(0) }).optional(),
  include: z.strictObject({ comparisons: z.strictObject({ mode: z.literal('previous_period') }).optional() }).partial().optional(),
})
export type SiteQuery = z.infer<typeof siteQuerySchema>
export type SiteQueryInput = z.input<typeof siteQuerySchema>

export function parseSiteQuery(raw: unknown): SiteQuery {
  const r = siteQuerySchema.safeParse(raw)
  if (!r.success) {
    const i = r.error.issues[0]
    throw new W3aError('INVALID_ARGUMENT', `Stats API query: ${i?.path.join('.') || 'body'}: ${i?.message}`, { details: [`Metrics: ${SITE_METRICS.join(', ')}`, `Dimensions: ${Object.keys(SITE_DIMENSIONS).join(', ')}`] })
  }
  for (const [name] of r.data.order_by ?? []) {
    if (!(r.data.metrics as string[]).includes(name) && !(r.data.dimensions as string[]).includes(name)) throw new W3aError('INVALID_ARGUMENT', `Stats API query: order_by names "${name}", which is neither a metric nor a dimension of the query`)
  }
  return r.data
}

const DAY_MS = 86_400_000
const utcDay = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS

/** The query's time range [from, to) in ms (UTC), or null for 'all'. */
export function dateRange(range: SiteQuery['date_range'], now: number): [number, number] | null {
  const today = utcDay(now)
  const d = new Date(now)
  if (Array.isArray(range)) {
    const at = (s: string, end: boolean): number => {
      if (DATE.test(s)) return Date.parse(`${s}T00:00:00Z`) + (end ? DAY_MS : 0) // dates are inclusive
      if (DATETIME.test(s)) return Date.parse(s) + (end ? 1 : 0)
      throw new W3aError('INVALID_ARGUMENT', `Stats API query: date_range "${s}" is not YYYY-MM-DD or an ISO 8601 date-time with offset`)
    }
    const [from, to] = [at(range[0], false), at(range[1], true)]
    if (!(from < to)) throw new W3aError('INVALID_ARGUMENT', 'Stats API query: date_range ends before it starts')
    return [from, to]
  }
  switch (range) {
    case 'all':
      return null
    case 'day':
      return [today, today + DAY_MS]
    case '7d':
      return [today - 6 * DAY_MS, today + DAY_MS]
    case '30d':
      return [today - 29 * DAY_MS, today + DAY_MS]
    case 'month':
      return [Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), today + DAY_MS]
    case '6mo':
      return [Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 5, 1), today + DAY_MS]
    case '12mo':
      return [Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 11, 1), today + DAY_MS]
    case 'year':
      return [Date.UTC(d.getUTCFullYear(), 0, 1), today + DAY_MS]
  }
}

function ts(ms: number): string {
  return `TIMESTAMP ${sqlString(new Date(ms).toISOString().replace('T', ' ').replace('Z', ''))}`
}

function filterSql(f: Filter): string {
  const [op] = f
  if (op === 'and' || op === 'or') return `(${(f[1] as Filter[]).map(filterSql).join(` ${op.toUpperCase()} `)})`
  if (op === 'not') return `(NOT ${filterSql(f[1] as Filter)})`
  const col = SITE_DIMENSIONS[f[1] as SiteDimension]
  const values = f[2] as string[]
  if (op === 'is') return `${col} IN (${values.map(sqlString).join(', ')})`
  if (op === 'is_not') return `${col} NOT IN (${values.map(sqlString).join(', ')})`
  // The checker takes LIKE without ESCAPE: a `%` or `_` in a value is a LIKE wildcard (docs/site-owner.md).
  const likes = values.map((v) => `${col} LIKE ${sqlString(`%${v}%`)}`)
  return op === 'contains' ? `(${likes.join(' OR ')})` : `(NOT (${likes.join(' OR ')}))`
}

export type SiteSql = { sql: string; sums: string[]; dimensions: SiteDimension[]; range: [number, number] | null }

/** The one SQL aggregate answering `q` over the range given (the dataset is the table `data`). */
export function siteQuerySql(q: SiteQuery, range: [number, number] | null): SiteSql {
  const sums = [...new Set(q.metrics.flatMap((m) => NEEDS[m]))]
  const dims = q.dimensions.map((d, i) => `${SITE_DIMENSIONS[d]} AS d${i}`)
  const where = [...(range ? [`ts >= ${ts(range[0])}`, `ts < ${ts(range[1])}`] : []), ...q.filters.map(filterSql)]
  const sql = [
    `SELECT ${[...dims, ...sums.map((s) => `${AGGREGATE[s]} AS ${s}`)].join(', ')}`,
    'FROM data',
    ...(where.length ? [`WHERE ${where.join(' AND ')}`] : []),
    ...(dims.length ? [`GROUP BY ${q.dimensions.map((d) => SITE_DIMENSIONS[d]).join(', ')}`] : []),
  ].join(' ')
  return { sql, sums, dimensions: q.dimensions, range }
}

export type SiteResultRow = { dimensions: string[]; metrics: (number | null)[]; comparison?: { dimensions: string[]; metrics: (number | null)[]; change: (number | null)[] } }

const round = (x: number, digits = 0) => Math.round(x * 10 ** digits) / 10 ** digits

/** The job's released rows (columns d0…, then the sums) as Plausible result rows, ordered and paginated as asked. */
export function shapeSiteRows(q: SiteQuery, plan: SiteSql, columns: string[], rows: unknown[][]): SiteResultRow[] {
  const at = (name: string) => columns.findIndex((c) => c.toLowerCase() === name)
  const num = (row: unknown[], name: string): number | null => {
    const v = row[at(name)]
    return v === null || v === undefined ? null : Math.max(0, Number(v))
  }
  const out = rows.map((row) => {
    const visits = num(row, 'visits')
    const ratio = (n: number | null, digits: number, scale = 1) => (n === null || !visits ? null : round((scale * n) / visits, digits))
    const metric: Record<SiteMetric, () => number | null> = {
      visitors: () => num(row, 'visitors') && round(num(row, 'visitors')!),
      visits: () => visits && round(visits),
      pageviews: () => num(row, 'pageviews') && round(num(row, 'pageviews')!),
      events: () => num(row, 'events') && round(num(row, 'events')!),
      views_per_visit: () => ratio(num(row, 'pageviews'), 2),
      bounce_rate: () => ratio(num(row, 'bounces'), 0, 100),
      visit_duration: () => ratio(num(row, 'duration'), 0),
    }
    return { dimensions: plan.dimensions.map((_, i) => String(row[at(`d${i}`)] ?? '')), metrics: q.metrics.map((m) => metric[m]()) }
  })
  const time = plan.dimensions.find((d) => d.startsWith('time'))
  const order: [string, 'asc' | 'desc'][] = q.order_by ?? (time ? [[time, 'asc']] : [[q.metrics[0]!, 'desc']])
  out.sort((a, b) => {
    for (const [name, dir] of order) {
      const mi = (q.metrics as string[]).indexOf(name)
      const x = mi >= 0 ? (a.metrics[mi] ?? -Infinity) : a.dimensions[(plan.dimensions as string[]).indexOf(name)]!
      const y = mi >= 0 ? (b.metrics[mi] ?? -Infinity) : b.dimensions[(plan.dimensions as string[]).indexOf(name)]!
      if (x !== y) return (x < y ? -1 : 1) * (dir === 'asc' ? 1 : -1)
    }
    return 0
  })
  const { limit, offset } = q.pagination ?? { limit: 10_000, offset: 0 }
  return out.slice(offset, offset + limit)
}

/** Adds the previous period's figures to each row (matched by dimensions; time dimensions by position). */
export function withComparison(q: SiteQuery, current: SiteResultRow[], previous: SiteResultRow[]): SiteResultRow[] {
  const byTime = q.dimensions.some((d) => d.startsWith('time'))
  const key = (r: SiteResultRow) => JSON.stringify(r.dimensions)
  const prev = new Map(previous.map((r) => [key(r), r]))
  return current.map((r, i) => {
    const p = byTime ? previous[i] : prev.get(key(r))
    const metrics = p?.metrics ?? q.metrics.map(() => null)
    const change = r.metrics.map((m, j) => (m === null || metrics[j] === null || metrics[j] === 0 ? null : round((100 * (m - metrics[j]!)) / metrics[j]!)))
    return { ...r, comparison: { dimensions: p?.dimensions ?? r.dimensions, metrics, change } }
  })
}
