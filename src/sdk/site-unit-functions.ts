/**
 * The Stats API's figures that need a visitor's events in order, which no flat aggregate has
 * (the checker allows no window functions): per-unit functions (docs/analysis.md, "Per-unit
 * functions") over one visitor's rows of one day, ts order, run in the worker's sandbox and summed
 * under DP. Each returns a short vector of bounded numbers, so one visitor moves each sum by at
 * most the bound and the noise is calibrated to it.
 *
 *   time on page  for each page view the visitor left for another page view of the same visit,
 *                 the seconds until that next page view (the Σ of duration_s of the rows between):
 *                 [minutes, page views timed] per page asked for (or for all pages), each ≤ 30;
 *                 time_on_page = 60 · Σ minutes / Σ timed views. A visit's last page is not timed.
 *   funnel        the steps (goals) the visitor completed in order: [1, 1, 0, …], one per step;
 *                 the sums are the visitors who reached each step.
 *
 * The date range and the query's filters travel as data inside the source (no code is assembled
 * from names or values) and are applied by the interpreter below with SQL's three-valued logic,
 * so a filter selects the same rows here as in the SQL (plausible-query.ts).
 */
import type { UnitOutput } from '../analysis/unit-function/output-type.js'
import { goalMatchers, likeRegExp, type Goal } from './site-goals.js'

/** A filter whose dimensions are resolved: a column of the site schema, the goal, or a custom property. */
export type FilterTarget = { col: string } | { goal: true } | { prop: string }
export type ResolvedFilter = ['is' | 'is_not' | 'contains' | 'contains_not', FilterTarget, string[]] | ['and' | 'or', ResolvedFilter[]] | ['not', ResolvedFilter]

export type UnitFunctionPlan = { source: string; output: UnitOutput; aggregate: 'sum' }

/** Each entry of a time-on-page vector is clamped to this (minutes, and page views timed). */
export const TIME_ENTRY_BOUND = 30
/** At most this many pages per time-on-page job (the vector holds 2 entries per page, 16 at most). */
export const MAX_TIMED_PAGES = 8

/** DuckDB's text of a TIMESTAMP as the function sees it (`2026-12-02 10:00:00`): compared as text. */
function tsText(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19)
}

/** `contains` values become LIKE-equal regular expressions, so the interpreter needs no LIKE. */
function forJs(f: ResolvedFilter): ResolvedFilter {
  if (f[0] === 'and' || f[0] === 'or') return [f[0], f[1].map(forJs)]
  if (f[0] === 'not') return ['not', forJs(f[1])]
  return f[0] === 'contains' || f[0] === 'contains_not' ? [f[0], f[1], f[2].map((v) => likeRegExp(`%${v}%`))] : f
}

// The interpreter every function starts with: C holds the range, goals, filters and what to count.
const PRELUDE = `
  const goals = C.goals.map((g) => ({ name: g.name, event: g.event, page: g.page === undefined ? undefined : new RegExp(g.page) }))
  const done = (g, r) => (g.event !== undefined ? r.name === g.event : r.name === 'pageview' && g.page.test(String(r.page)))
  const goalOf = (r) => { for (const g of goals) if (done(g, r)) return g.name; return null }
  const prop = (r, k) => { if (!r.props) return null; try { const v = JSON.parse(r.props)[k]; return v === undefined || v === null || typeof v === 'object' ? null : String(v) } catch (e) { return null } }
  const val = (d, r) => (d.col !== undefined ? r[d.col] : d.goal ? goalOf(r) : prop(r, d.prop))
  const test = (f, r) => {
    if (f[0] === 'and' || f[0] === 'or') {
      let unknown = false
      for (const c of f[1]) { const t = test(c, r); if (t === (f[0] === 'or')) return t; if (t === null) unknown = true }
      return unknown ? null : f[0] === 'and'
    }
    if (f[0] === 'not') { const t = test(f[1], r); return t === null ? null : !t }
    const x = val(f[1], r)
    if (x === null || x === undefined) return null
    if (f[0] === 'is') return f[2].includes(x)
    if (f[0] === 'is_not') return !f[2].includes(x)
    const any = f[2].some((re) => new RegExp(re).test(x))
    return f[0] === 'contains' ? any : !any
  }
  const keep = (r) => (C.from === null || r.ts >= C.from) && (C.to === null || r.ts < C.to) && C.filters.every((f) => test(f, r) === true)
`

function source(consts: unknown, body: string): string {
  return `(rows) => {\n  const C = ${JSON.stringify(consts)}\n${PRELUDE}${body}\n}`
}

type Common = { range: [number, number] | null; goals: readonly Goal[]; filters: readonly ResolvedFilter[] }

function constants(c: Common): Record<string, unknown> {
  return { from: c.range ? tsText(c.range[0]) : null, to: c.range ? tsText(c.range[1]) : null, goals: goalMatchers(c.goals), filters: c.filters.map(forJs) }
}

/** Time on page, over all pages (`pages` absent) or per page of `pages` (at most MAX_TIMED_PAGES). */
export function timeOnPageFunction(c: Common & { pages?: readonly string[] }): UnitFunctionPlan {
  const pages = c.pages ?? null
  if (pages && (pages.length === 0 || pages.length > MAX_TIMED_PAGES)) throw new RangeError(`time on page for 1 to ${MAX_TIMED_PAGES} pages`)
  const body = `
  const P = C.pages
  const out = new Array(P === null ? 2 : 2 * P.length).fill(0)
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]
    if (r.name !== 'pageview' || !keep(r)) continue
    const at = P === null ? 0 : P.indexOf(r.page)
    if (at < 0) continue
    let seconds = 0
    let next = false
    for (let j = i + 1; j < rows.length && rows[j].session_id === r.session_id; j++) {
      seconds += Number(rows[j].duration_s) || 0
      if (rows[j].name === 'pageview') { next = true; break }
    }
    if (!next) continue
    out[2 * at] += seconds / 60
    out[2 * at + 1] += 1
  }
  return out`
  const width = pages === null ? 2 : 2 * pages.length
  return { source: source({ ...constants(c), pages }, body), output: { kind: 'vector', length: width, lo: 0, hi: TIME_ENTRY_BOUND }, aggregate: 'sum' }
}

/** A funnel: how far in its steps (goals, in order) each visitor went. */
export function funnelFunction(c: Common & { steps: readonly Goal[] }): UnitFunctionPlan {
  const body = `
  const S = C.steps.map((g) => ({ event: g.event, page: g.page === undefined ? undefined : new RegExp(g.page) }))
  let step = 0
  for (const r of rows) if (step < S.length && keep(r) && done(S[step], r)) step++
  return S.map((_, i) => (i < step ? 1 : 0))`
  return { source: source({ ...constants(c), steps: goalMatchers(c.steps) }, body), output: { kind: 'vector', length: c.steps.length, lo: 0, hi: 1 }, aggregate: 'sum' }
}
