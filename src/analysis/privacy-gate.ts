/**
 * The privacy gate on every output row.
 *
 * k-anonymity threshold: a row is released only if it aggregates ≥ k distinct privacy units
 * (`__w3a_units`, computed by the rewritten query); other rows are dropped and counted.
 * LIMIT/OFFSET are applied after suppression, so they cannot be used to pick small groups.
 *
 * Differential privacy (epsilon > 0), on the contribution-bounded per-group values of
 * dp-query.ts. Noisy quantities Q: the row count (count(*)), each measure's non-null count
 * (count(m), and avg's denominator), each measure's clamped sum, and the unit count
 * (count(DISTINCT unit)). Each noisy quantity is computed once and reused (avg = noisy sum /
 * noisy count is post-processing). ε is split equally: ε_q = ε/|Q|. Adding or removing one unit
 * changes quantity q by at most Δ_q in each of at most G groups, so its L1 sensitivity is G·Δ_q
 * and discrete Laplace noise of scale G·Δ_q/ε_q gives ε_q-DP; by composition the values are ε-DP.
 *
 * Without GROUP BY the query has exactly one row whatever the data (so G = 1: one unit moves that
 * one row only): it is released, noised, and no k test applies to it (a k test would be a yes/no answer about the rows the WHERE selects).
 * With GROUP BY, which groups appear is data too (partition selection). The unit count is always one of the
 * noisy quantities, and a group is released only if its true unit count is ≥ k (the policy's
 * rule) AND its noisy unit count is ≥ k + m, m = ⌈b_u · ln(G/δ)⌉ with b_u its noise scale. One
 * unit can lift at most G groups from k−1 to k units, and each such group then passes the noisy
 * threshold with probability ≤ e^(−m/b_u) = δ/G: the release is (ε, δ)-DP. For the same reason
 * the count of suppressed groups is not reported under DP (it counts the groups present).
 * Sums are real: they are rounded to a grid γ = Δ/1000 first (rounding adds ≤ 1 grid step to
 * the sensitivity) and noised in grid steps, so the output's support does not leak the exact
 * value's fractional part.
 */
import { W3aError } from '../core/errors.js'
import { DEFAULT_DELTA, MAX_DELTA } from './analysis-request.js'
import type { DpPlan } from './dp-query.js'
import { cryptoRng, MAX_LAPLACE_SCALE, sampleDiscreteLaplace, type Rng } from './dp-noise.js'
import { sampleQuantile } from './dp-quantile.js'
import { UNITS_ALIAS, type CheckedQuery } from './sql-checker.js'

export type Mechanism = 'none' | 'discrete-laplace'

export type GateResult = {
  columns: { name: string; type: string }[]
  rows: unknown[][]
  /** Always null: a count of dropped groups answers yes/no questions about the rows. */
  suppressed: number | null
  mechanism: Mechanism
  /** Laplace scale b per noisy output column (natural units); empty without DP. */
  noiseScale: Record<string, number>
  epsilonSpent: number
  /** δ of the release (null without DP). */
  delta: number | null
}

type Raw = { columns: { name: string; type: string }[]; rows: unknown[][] }

function units(v: unknown): number {
  return typeof v === 'bigint' ? Number(v) : Number(v ?? 0)
}

function page<T>(rows: T[], checked: CheckedQuery): T[] {
  const from = checked.offset
  return checked.limit === null ? rows.slice(from) : rows.slice(from, from + checked.limit)
}

/**
 * Exact answers (no noise; whole-dataset aggregates only, sql-checker.ts): all or nothing. If a
 * row has fewer than k units, no row is released; dropping only small rows would let a coarser
 * and a finer answer be differenced, and a count of what was dropped answers yes/no questions, so
 * `suppressed` is never reported.
 */
export function gateThreshold(raw: Raw, checked: CheckedQuery, k: number): GateResult {
  const u = raw.columns.findIndex((c) => c.name === UNITS_ALIAS)
  if (u < 0) throw new W3aError('INTERNAL', 'The checked query lost its unit count')
  const kept = raw.rows.every((r) => units(r[u]) >= k) ? raw.rows : []
  const drop = <T>(xs: T[]) => xs.filter((_, i) => i !== u)
  return {
    columns: drop(raw.columns),
    rows: page(kept, checked).map(drop),
    suppressed: null,
    mechanism: 'none',
    noiseScale: {},
    epsilonSpent: 0,
    delta: null,
  }
}

/** Threshold + discrete Laplace noise on rows of the DP plan's query. */
/**
 * Where a DP release draws its noise: a random source per noised quantity of each group,
 * named by `noiseLabel`. A job passes streams keyed by its noise seed (keyed-rng.ts), so
 * every run of the job draws the same noise; absent, every draw is fresh from node:crypto.
 */
export type NoiseSource = (label: string) => Rng

/** The label of one noised quantity of one group: the group's key values and the quantity. */
export function noiseLabel(groupKey: readonly unknown[], quantity: string): string {
  return JSON.stringify([groupKey.map((v) => (v === null || v === undefined ? null : [typeof v, String(v)])), quantity])
}

function quantileKey(measure: number, level: number): string {
  return `q${measure}@${level}`
}

/** A quantile is drawn by the exponential mechanism, not the Laplace sampler. */
function isQuantileKey(key: string): boolean {
  return key.startsWith('q')
}

/** DuckDB hands a LIST as an array or as a value object with `items`. */
function listOf(v: unknown): number[] {
  const items = Array.isArray(v) ? v : ((v as { items?: unknown[] } | null)?.items ?? [])
  return items.map(Number).filter(Number.isFinite)
}

export function gateDp(raw: Raw, checked: CheckedQuery, plan: DpPlan, o: { k: number; epsilon: number; delta?: number; outputNames: string[]; noise?: NoiseSource }): GateResult {
  const noise = o.noise ?? (() => cryptoRng)
  if (!(o.epsilon > 0) || !Number.isFinite(o.epsilon)) throw new W3aError('INVALID_ARGUMENT', 'epsilon must be > 0 for a DP release')
  const delta = o.delta ?? DEFAULT_DELTA
  if (!(delta > 0 && delta <= MAX_DELTA)) throw new W3aError('INVALID_ARGUMENT', `delta must be in (0, ${MAX_DELTA}]`)
  const col = (name: string) => {
    const i = raw.columns.findIndex((c) => c.name === name)
    if (i < 0) throw new W3aError('INTERNAL', `DP query lacks ${name}`)
    return i
  }
  const C = plan.contribution.maxRowsPerUnit
  // Without GROUP BY there is one group: a unit moves it alone, whatever G the policy allows.
  const G = checked.groupKeys.length === 0 ? 1 : plan.contribution.maxGroupsPerUnit
  const mIndex = (column: string) => plan.measures.findIndex((m) => m.column === column)
  // The distinct noisy quantities, with per-group sensitivity Δ and grid γ.
  type Quantity = { key: string; source: number; delta: number; grid: number }
  const qs = new Map<string, Quantity>()
  const need = (key: string, source: string, delta: number, real: boolean) => {
    if (!qs.has(key)) qs.set(key, { key, source: col(source), delta, grid: real ? Math.max(delta, 1e-12) / 1000 : 1 })
  }
  need('units', UNITS_ALIAS, 1, false) // partition selection always uses it
  for (const out of checked.outputs) {
    const d = out.dp
    if (d === undefined) continue
    if (d.kind === 'count') need('count', '__c', C, false)
    else if (d.kind === 'units') need('units', UNITS_ALIAS, 1, false)
    else {
      const i = mIndex(d.column)
      const m = plan.measures[i]!
      if (d.kind === 'count-column' || d.kind === 'avg') need(`n${i}`, `__n${i}`, C, false)
      if (d.kind === 'sum' || d.kind === 'avg') need(`s${i}`, `__s${i}`, C * Math.max(Math.abs(m.lower), Math.abs(m.upper)), true)
      // A quantile: the exponential mechanism over the rank, which one unit moves by ≤ C.
      if (d.kind === 'quantile') need(quantileKey(i, d.level), `__l${i}`, C, false)
    }
  }
  const epsQ = o.epsilon / Math.max(1, qs.size)
  // Scale in grid steps: L1 sensitivity (G groups × Δ/γ, +1 step for rounding real sums) / ε_q.
  const stepScale = (x: Quantity) => (G * (x.grid === 1 ? x.delta : x.delta / x.grid + 1)) / epsQ
  // Every scale is checked before any group is looked at: the sampler refuses one past its
  // range, and groups are drawn only when they reach k, so that refusal would tell one exists.
  for (const x of qs.values()) {
    if (!isQuantileKey(x.key) && !(stepScale(x) <= MAX_LAPLACE_SCALE)) {
      throw new W3aError('QUERY_REFUSED', 'Query refused: its noise would be too large to draw', { details: [`ε ${o.epsilon} over ${qs.size} noisy quantities and ${G} groups per unit: ask with a larger ε, fewer outputs or a smaller maxGroupsPerUnit / maxRowsPerUnit`] })
    }
  }
  const u = col(UNITS_ALIAS)
  const threshold = o.k + Math.ceil(stepScale(qs.get('units')!) * Math.log(G / delta))
  // Every GROUP BY key (output or not) names the group, so no two groups share a noise stream.
  const groupColumns = checked.groupKeys.map(col)
  const groupKeyOf = (r: unknown[]) => groupColumns.map((i) => r[i])
  const noisyRows = raw.rows.filter((r) => checked.groupKeys.length === 0 || units(r[u]) >= o.k).map((r) => {
    const groupKey = groupColumns.map((i) => r[i])
    const noisy = new Map<string, number>()
    const value = (key: string): number => {
      const x = qs.get(key)!
      let v = noisy.get(key)
      if (v === undefined) {
        const steps = Math.round(Number(r[x.source] ?? 0) / x.grid)
        v = x.delta === 0 ? steps * x.grid : (steps + sampleDiscreteLaplace(stepScale(x), noise(noiseLabel(groupKey, key)))) * x.grid
        noisy.set(key, v)
      }
      return v
    }
    return { r, value }
  })
  // Without GROUP BY the one row exists whatever the data (it is not a partition to select):
  // it is always released, noised. A k test there would answer "do ≥ k units match the WHERE?".
  const kept = checked.groupKeys.length === 0 ? noisyRows : noisyRows.filter((x) => x.value('units') >= threshold)
  const released = page(kept, checked).map(({ r, value }) => {
    const quantiles = new Map<string, number>() // one draw per quantity, however often it is output
    return checked.outputs.map((out) => {
      if (out.role === 'group') return r[col(out.column!)]
      const d = out.dp!
      if (d.kind === 'count') return BigInt(Math.max(0, value('count')))
      if (d.kind === 'units') return BigInt(Math.max(0, value('units')))
      const i = mIndex(d.column)
      if (d.kind === 'count-column') return BigInt(Math.max(0, value(`n${i}`)))
      if (d.kind === 'quantile') {
        const m = plan.measures[i]!
        const key = quantileKey(i, d.level)
        // ε_q over G groups: ε_q/G per group, the score's sensitivity C.
        if (!quantiles.has(key)) quantiles.set(key, sampleQuantile(listOf(r[col(`__l${i}`)]), { level: d.level, lower: m.lower, upper: m.upper, epsilon: epsQ / G, sensitivity: C, rng: noise(noiseLabel(groupKeyOf(r), key)) }))
        return quantiles.get(key)!
      }
      if (d.kind === 'sum') return value(`s${i}`)
      const n = value(`n${i}`)
      const m = plan.measures[i]!
      // Post-processing: clamp to the declared range; null when the noisy count is not positive.
      return n <= 0 ? null : Math.min(m.upper, Math.max(m.lower, value(`s${i}`) / n))
    })
  })
  const noiseScale: Record<string, number> = {}
  checked.outputs.forEach((out, j) => {
    const d = out.dp
    if (d === undefined) return
    const i = 'column' in d ? mIndex(d.column) : -1
    const key = d.kind === 'count' ? 'count' : d.kind === 'units' ? 'units' : d.kind === 'count-column' ? `n${i}` : d.kind === 'quantile' ? quantileKey(i, d.level) : `s${i}`
    const x = qs.get(key)!
    // For a quantile: the exponential mechanism's scale in ranks, 2·G·C/ε_q.
    noiseScale[o.outputNames[j] ?? String(j)] = d.kind === 'quantile' ? 2 * stepScale(x) : stepScale(x) * x.grid
  })
  const types = checked.outputs.map((out, j) => {
    if (out.role === 'group') return { name: o.outputNames[j]!, type: raw.columns[col(out.column!)]!.type }
    const k = out.dp!.kind
    return { name: o.outputNames[j]!, type: k === 'sum' || k === 'avg' || k === 'quantile' ? 'DOUBLE' : 'BIGINT' }
  })
  return { columns: types, rows: released, suppressed: null, mechanism: 'discrete-laplace', noiseScale, epsilonSpent: o.epsilon, delta }
}
