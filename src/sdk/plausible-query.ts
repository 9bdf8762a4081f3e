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
 *   conversion_rate 100 · visitors who completed the goal / all visitors (a second query, the same
 *                   without the goal: its own job and ε, like a comparison)
 *   time_on_page    a per-unit function job (site-unit-functions.ts): a visitor's events in order
 *
 * Dimensions are schema columns, or expressions of them grouped by alias (the checker takes an
 * expression of dimensions as a DP grouping key, inside TRY): `event:goal` is a CASE over the
 * site's goals (site-goals.ts), `event:props:NAME` is json_extract_string(nullif(props, ''), '$."NAME"')
 * (an event without props is NULL, not an error: TRY catching an error per row is slow).
 */
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { sqlString } from '../storage/sql-literal.js'
import { goalCaseSql, goalNamed, type Goal } from './site-goals.js'
import { MAX_TIMED_PAGES, timeOnPageFunction, type FilterTarget, type ResolvedFilter, type UnitFunctionPlan } from './site-unit-functions.js'

export const SITE_METRICS = ['visitors', 'visits', 'pageviews', 'views_per_visit', 'bounce_rate', 'visit_duration', 'events', 'conversion_rate', 'time_on_page'] as const
export type SiteMetric = (typeof SITE_METRICS)[number]

/** Plausible dimension → the site schema column it groups by (and `event:goal`, `event:props:NAME`: expressions). */
export const SITE_DIMENSIONS = {
  'event:page': 'page',
  'event:name': 'name',
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
export type ColumnDimension = keyof typeof SITE_DIMENSIONS
export type SiteDimension = ColumnDimension | 'event:goal' | `event:props:${string}`
/** Every dimension name, for help texts. */
export const DIMENSION_NAMES = [...Object.keys(SITE_DIMENSIONS), 'event:goal', 'event:props:NAME']

/** The sums each metric is made of (SQL output names). */
const NEEDS: Record<SiteMetric, readonly string[]> = {
  visitors: ['visitors'],
  visits: ['visits'],
  pageviews: ['pageviews'],
  events: ['events'],
  views_per_visit: ['pageviews', 'visits'],
  bounce_rate: ['bounces', 'visits'],
  visit_duration: ['duration', 'visits'],
  conversion_rate: ['visitors'],
  time_on_page: [],
}
const AGGREGATE: Record<string, string> = {
  visitors: 'count(DISTINCT visitor_id)',
  visits: 'sum(session_start)',
  pageviews: 'sum(pageview)',
  events: 'count(*)',
  bounces: 'sum(bounce)',
  duration: 'sum(duration_s)',
}

// A property name travels inside a JSON path '$."NAME"': no quote or backslash.
const PROP_DIMENSION = /^event:props:[^"\\]{1,100}$/
const dimension = z.union([z.enum([...(Object.keys(SITE_DIMENSIONS) as ColumnDimension[]), 'event:goal']), z.string().regex(PROP_DIMENSION, 'event:props:NAME (a name without " or \\)')]) as z.ZodType<SiteDimension>
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
  include: z.strictObject({ comparisons: z.strictObject({ mode: z.enum(['previous_period', 'year_over_year']) }).optional() }).partial().optional(),
})
export type SiteQuery = z.infer<typeof siteQuerySchema>
export type SiteQueryInput = z.input<typeof siteQuerySchema>

export function parseSiteQuery(raw: unknown): SiteQuery {
  const r = siteQuerySchema.safeParse(raw)
  if (!r.success) {
    const i = r.error.issues[0]
    throw new W3aError('INVALID_ARGUMENT', `Stats API query: ${i?.path.join('.') || 'body'}: ${i?.message}`, { details: [`Metrics: ${SITE_METRICS.join(', ')}`, `Dimensions: ${DIMENSION_NAMES.join(', ')}`] })
  }
  for (const [name] of r.data.order_by ?? []) {
    if (!(r.data.metrics as string[]).includes(name) && !(r.data.dimensions as string[]).includes(name)) throw new W3aError('INVALID_ARGUMENT', `Stats API query: order_by names "${name}", which is neither a metric nor a dimension of the query`)
  }
  const q = r.data
  if (q.metrics.includes('time_on_page')) {
    if (q.dimensions.some((d) => d !== 'event:page')) throw new W3aError('INVALID_ARGUMENT', 'Stats API query: time_on_page goes with no dimension or with event:page alone')
    if ((q.order_by ?? []).some(([name]) => name === 'time_on_page')) throw new W3aError('INVALID_ARGUMENT', 'Stats API query: order_by time_on_page is not supported (its pages are the ones the order picks)')
  }
  if (q.metrics.includes('conversion_rate') && !q.dimensions.includes('event:goal') && !q.filters.some(isGoalFilter)) {
    throw new W3aError('INVALID_ARGUMENT', 'Stats API query: conversion_rate needs the event:goal dimension or an event:goal filter')
  }
  return q
}

/** A top-level filter on the goal (conversion_rate's denominator drops it). */
function isGoalFilter(f: Filter): boolean {
  return ['is', 'is_not', 'contains', 'contains_not'].includes(f[0]) && f[1] === 'event:goal'
}

const DAY_MS = 86_400_000
const utcDay = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS

/** The range a comparison compares with: the period just before, or the same dates a year earlier. */
export function comparisonRange(mode: 'previous_period' | 'year_over_year', range: [number, number]): [number, number] {
  if (mode === 'previous_period') return [2 * range[0] - range[1], range[0]]
  const back = (ms: number) => {
    const d = new Date(ms)
    d.setUTCFullYear(d.getUTCFullYear() - 1)
    return d.getTime()
  }
  return [back(range[0]), back(range[1])]
}

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

/** A dimension as SQL over the site schema: a column, or an expression (grouped by its alias). */
function dimensionSql(d: SiteDimension, goals: readonly Goal[]): { sql: string; expression: boolean } {
  if (d === 'event:goal') return { sql: goalCaseSql(goals), expression: true }
  if (d.startsWith('event:props:')) return { sql: `json_extract_string(nullif(props, ''), ${sqlString(`$."${d.slice('event:props:'.length)}"`)})`, expression: true }
  return { sql: SITE_DIMENSIONS[d as ColumnDimension], expression: false }
}

/** The same dimension for a per-unit function's filter interpreter. */
function dimensionTarget(d: SiteDimension): FilterTarget {
  if (d === 'event:goal') return { goal: true }
  if (d.startsWith('event:props:')) return { prop: d.slice('event:props:'.length) }
  return { col: SITE_DIMENSIONS[d as ColumnDimension] }
}

export function resolveFilter(f: Filter): ResolvedFilter {
  const [op] = f
  if (op === 'and' || op === 'or') return [op, (f[1] as Filter[]).map(resolveFilter)]
  if (op === 'not') return ['not', resolveFilter(f[1] as Filter)]
  return [op as 'is', dimensionTarget(f[1] as SiteDimension), f[2] as string[]]
}

function filterSql(f: Filter, goals: readonly Goal[]): string {
  const [op] = f
  if (op === 'and' || op === 'or') return `(${(f[1] as Filter[]).map((x) => filterSql(x, goals)).join(` ${op.toUpperCase()} `)})`
  if (op === 'not') return `(NOT ${filterSql(f[1] as Filter, goals)})`
  const col = dimensionSql(f[1] as SiteDimension, goals).sql
  const values = f[2] as string[]
  if (f[1] === 'event:goal') for (const v of values) if (op === 'is' || op === 'is_not') goalNamed(goals, v)
  if (op === 'is') return `${col} IN (${values.map(sqlString).join(', ')})`
  if (op === 'is_not') return `${col} NOT IN (${values.map(sqlString).join(', ')})`
  // The checker takes LIKE without ESCAPE: a `%` or `_` in a value is a LIKE wildcard (docs/site-owner.md).
  const likes = values.map((v) => `${col} LIKE ${sqlString(`%${v}%`)}`)
  return op === 'contains' ? `(${likes.join(' OR ')})` : `(NOT (${likes.join(' OR ')}))`
}

export type SiteSql = { sql: string; sums: string[]; dimensions: SiteDimension[]; range: [number, number] | null }

/** The one SQL aggregate answering `q` over the range given (the dataset is the table `data`). */
export function siteQuerySql(q: SiteQuery, range: [number, number] | null, goals: readonly Goal[] = []): SiteSql {
  const needed = [...new Set(q.metrics.flatMap((m) => NEEDS[m]))]
  const sums = needed.length > 0 ? needed : ['visitors']
  const dims = q.dimensions.map((d) => dimensionSql(d, goals))
  const where = [
    ...(range ? [`ts >= ${ts(range[0])}`, `ts < ${ts(range[1])}`] : []),
    ...q.filters.map((f) => filterSql(f, goals)),
    // The goal breakdown lists goals only: events completing none are left out.
    ...(q.dimensions.includes('event:goal') ? [`${goalCaseSql(goals)} IS NOT NULL`] : []),
  ]
  const sql = [
    `SELECT ${[...dims.map((d, i) => `${d.sql} AS d${i}`), ...sums.map((s) => `${AGGREGATE[s]} AS ${s}`)].join(', ')}`,
    'FROM data',
    ...(where.length ? [`WHERE ${where.join(' AND ')}`] : []),
    ...(dims.length ? [`GROUP BY ${dims.map((d, i) => (d.expression ? `d${i}` : d.sql)).join(', ')}`] : []),
  ].join(' ')
  return { sql, sums, dimensions: q.dimensions, range }
}

/**
 * conversion_rate's denominator: the same query without the goal (dimension and top-level goal
 * filters), counting visitors. A goal filter under and/or/not cannot be dropped apart from the rest.
 */
export function conversionTotalsQuery(q: SiteQuery): SiteQuery {
  const filters = q.filters.filter((f) => !isGoalFilter(f))
  if (JSON.stringify(filters).includes('"event:goal"')) throw new W3aError('INVALID_ARGUMENT', 'Stats API query: with conversion_rate, filter on event:goal at the top level only (not inside and/or/not)')
  return { ...q, metrics: ['visitors'], dimensions: q.dimensions.filter((d) => d !== 'event:goal'), filters, include: undefined, order_by: undefined, pagination: undefined }
}

/** time_on_page's job: over the range and filters, for the pages of `rows` (event:page) or the whole site. */
export function timeOnPagePlan(q: SiteQuery, range: [number, number] | null, goals: readonly Goal[], rows: readonly SiteResultRow[]): UnitFunctionPlan | null {
  const byPage = q.dimensions.includes('event:page')
  const pages = byPage ? rows.slice(0, MAX_TIMED_PAGES).map((r) => r.dimensions[0]!) : undefined
  if (pages && pages.length === 0) return null
  return timeOnPageFunction({ range, goals, filters: q.filters.map(resolveFilter), ...(pages ? { pages } : {}) })
}

export type SiteResultRow = { dimensions: string[]; metrics: (number | null)[]; comparison?: { dimensions: string[]; metrics: (number | null)[]; change: (number | null)[] } }

const round = (x: number, digits = 0) => Math.round(x * 10 ** digits) / 10 ** digits

/** The job's released rows (columns d0…, then the sums) as Plausible result rows, ordered and paginated as asked. */
export function shapeSiteRows(q: SiteQuery, plan: SiteSql, columns: string[], rows: unknown[][]): SiteResultRow[] {
  return orderAndPage(q, siteRows(q, plan, columns, rows))
}

/**
 * The same rows before ordering; conversion_rate holds the converted visitors until
 * withConversionRate divides them, time_on_page is null until withTimeOnPage.
 */
export function siteRows(q: SiteQuery, plan: SiteSql, columns: string[], rows: unknown[][]): SiteResultRow[] {
  const at = (name: string) => columns.findIndex((c) => c.toLowerCase() === name)
  const num = (row: unknown[], name: string): number | null => {
    const v = row[at(name)]
    return v === null || v === undefined ? null : Math.max(0, Number(v))
  }
  const out = rows.map((row) => {
    const visits = num(row, 'visits')
    const ratio = (n: number | null, digits: number, scale = 1) => (n === null || !visits ? null : round((scale * n) / visits, digits))
    const metric: Record<Exclude<SiteMetric, 'time_on_page'>, () => number | null> = {
      conversion_rate: () => num(row, 'visitors'),
      visitors: () => num(row, 'visitors') && round(num(row, 'visitors')!),
      visits: () => visits && round(visits),
      pageviews: () => num(row, 'pageviews') && round(num(row, 'pageviews')!),
      events: () => num(row, 'events') && round(num(row, 'events')!),
      views_per_visit: () => ratio(num(row, 'pageviews'), 2),
      bounce_rate: () => ratio(num(row, 'bounces'), 0, 100),
      visit_duration: () => ratio(num(row, 'duration'), 0),
    }
    // A custom property an event lacks is Plausible's "(none)".
    const key = (d: SiteDimension, v: unknown) => (v === null || v === undefined ? (d.startsWith('event:props:') ? '(none)' : '') : String(v))
    return { dimensions: plan.dimensions.map((d, i) => key(d, row[at(`d${i}`)])), metrics: q.metrics.map((m) => (m in metric ? metric[m as keyof typeof metric]() : null)) }
  })
  return out
}

/** Plausible's order (order_by, else time ascending, else the first metric descending) and pagination. */
export function orderAndPage(q: SiteQuery, rows: SiteResultRow[]): SiteResultRow[] {
  const out = [...rows]
  const plan = { dimensions: q.dimensions }
  const time = plan.dimensions.find((d) => d.startsWith('time'))
  const order: [string, 'asc' | 'desc'][] = q.order_by ?? (time ? [[time, 'asc']] : [[q.metrics[0]!, 'desc']])
  out.sort((a, b) => {
    for (const [name, dir] of order) {
      const mi = (q.metrics as string[]).indexOf(name)
      const x = mi >= 0 ? (a.metrics[mi] ?? -Infinity) : a.dimensions[(plan.dimensions as string[]).indexOf(name)]!
      const y = mi >= 0 ? (b.metrics[mi] ?? -Infinity) : b.dimensions[(plan.dimensions as string[]).indexOf(name)]!
      if (x !== y) return (x < y ? -1 : 1) * (dir === 'asc' ? 1 : -1)
    }
    // Ties by the dimensions, ascending: the order (and so each page) never depends on how the worker's rows came out.
    for (let i = 0; i < a.dimensions.length; i++) if (a.dimensions[i] !== b.dimensions[i]) return a.dimensions[i]! < b.dimensions[i]! ? -1 : 1
    return 0
  })
  const { limit, offset } = q.pagination ?? { limit: 10_000, offset: 0 }
  return out.slice(offset, offset + limit)
}

/** Fills conversion_rate: each row's visitors over its group's visitors in the totals query (matched by the other dimensions). */
export function withConversionRate(q: SiteQuery, rows: SiteResultRow[], totals: SiteResultRow[]): SiteResultRow[] {
  const cr = q.metrics.indexOf('conversion_rate')
  if (cr < 0) return rows
  const goalAt = q.dimensions.indexOf('event:goal')
  const others = (r: SiteResultRow, withGoal: boolean) => JSON.stringify(withGoal ? r.dimensions.filter((_, i) => i !== goalAt) : r.dimensions)
  const all = new Map(totals.map((t) => [others(t, false), t.metrics[0] ?? null]))
  return rows.map((r) => {
    const converted = r.metrics[cr]
    const total = all.get(others(r, goalAt >= 0))
    const metrics = [...r.metrics]
    metrics[cr] = converted === null || converted === undefined || !total ? null : round(Math.min(100, (100 * converted) / total), 1)
    return { ...r, metrics }
  })
}

/** Fills time_on_page (seconds) from its job's sums: [minutes, views] for the site or per page of `rows`, in order. */
export function withTimeOnPage(q: SiteQuery, rows: SiteResultRow[], sums: (number | null)[] | null): SiteResultRow[] {
  const ti = q.metrics.indexOf('time_on_page')
  if (ti < 0) return rows
  const byPage = q.dimensions.includes('event:page')
  return rows.map((r, i) => {
    const at = byPage ? i : 0
    const minutes = sums?.[2 * at]
    const views = sums?.[2 * at + 1]
    const metrics = [...r.metrics]
    // Noisy sums: fewer than half a timed view is no figure.
    metrics[ti] = at >= MAX_TIMED_PAGES || minutes === null || minutes === undefined || !views || views < 0.5 ? null : round((60 * Math.max(0, minutes)) / views)
    return { ...r, metrics }
  })
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
