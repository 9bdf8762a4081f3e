/**
 * The privacy gate for per-unit answers: the answers are summed, averaged or counted per
 * category, with discrete Laplace noise calibrated to the declared type, and groups are released
 * by the k rule. No single unit's answer is ever released, and no exact answer either: a
 * function can single out one unit by its rows, so two exact answers could difference it out
 * (exact answers stay with SQL's whole-dataset aggregates, sql-checker.ts).
 *
 * Sensitivity comes from the declared type alone (output-type.ts): adding or removing one unit
 * changes, in each of at most G groups (G = maxGroupsPerUnit: a unit's rows in G groups give G
 * answers), the unit count by 1, a number sum by ≤ max(|lo|, |hi|), a vector sum in L1 by
 * ≤ N·max(|lo|, |hi|), and a category histogram in L1 by 1 (one answer is in at most one
 * category). ε is split equally over the noised quantities (the unit count, and the sum or the
 * histogram; an ungrouped histogram needs no unit count) and each gets noise of scale
 * G·Δ/ε_q, so the release is ε-DP by composition. Real sums are rounded to a grid γ = Δ/1000
 * first and noised in grid steps (one step more sensitivity per rounded component), as
 * privacy-gate.ts does.
 *
 * Without group-by the one row (or the declared categories) is released whatever the data,
 * noised, as SQL's ungrouped aggregates are. With group-by, which groups exist is data: a group
 * is released only if its true unit count is ≥ k and its noisy unit count is ≥ k + m,
 * m = ⌈b_u·ln(G/δ)⌉ (privacy-gate.ts): (ε, δ)-DP.
 */
import { W3aError } from '../../core/errors.js'
import { MAX_DELTA } from '../analysis-request.js'
import { cryptoRng, sampleDiscreteLaplace } from '../dp-noise.js'
import { noiseLabel, type GateResult, type NoiseSource } from '../privacy-gate.js'
import { clamp, magnitude, type UnitOutput, type UnitValue } from './output-type.js'

export type UnitAggregate = 'sum' | 'mean' | 'histogram'

/** The aggregates a type allows (the first is the default). */
export function aggregatesFor(output: UnitOutput): UnitAggregate[] {
  return output.kind === 'category' ? ['histogram'] : ['sum', 'mean']
}

export type UnitGroup = { key: unknown; values: UnitValue[] }

export type UnitGateParameters = {
  output: UnitOutput
  aggregate: UnitAggregate
  /** Without group-by: exactly one group (its key is ignored). */
  groups: UnitGroup[]
  /** The group-by column (absent: no group-by). */
  groupBy?: { name: string; type: string }
  k: number
  epsilon: number
  delta: number
  /** Groups one unit's answers may fall in (the runner keeps at most this many per unit). */
  maxGroupsPerUnit: number
  noise?: NoiseSource
}

type Quantity = { sensitivity: number; real: boolean; parts: number }

export function gateUnitValues(p: UnitGateParameters): GateResult {
  const { output: o, aggregate } = p
  if (!aggregatesFor(o).includes(aggregate)) throw new W3aError('INVALID_ARGUMENT', `aggregate ${aggregate} does not apply to a ${o.kind} answer`)
  if (!(p.epsilon > 0) || !Number.isFinite(p.epsilon)) throw new W3aError('QUERY_REFUSED', 'A function job needs ε > 0: its answers are always noised (no exact answers for functions)')
  if (!(p.delta > 0 && p.delta <= MAX_DELTA)) throw new W3aError('INVALID_ARGUMENT', `delta must be in (0, ${MAX_DELTA}]`)
  const grouped = p.groupBy !== undefined
  if (!grouped && p.groups.length !== 1) throw new W3aError('INTERNAL', 'An ungrouped function job has exactly one group')
  const G = p.maxGroupsPerUnit
  const noise = p.noise ?? (() => cryptoRng)
  const width = o.kind === 'vector' ? o.length : 1
  const quantities = new Map<string, Quantity>()
  if (grouped || o.kind !== 'category') quantities.set('units', { sensitivity: 1, real: false, parts: 1 })
  if (o.kind === 'category') quantities.set('histogram', { sensitivity: 1, real: false, parts: 1 })
  else quantities.set('sum', { sensitivity: width * magnitude(o), real: true, parts: width })
  const epsQ = p.epsilon / quantities.size
  const grid = (q: Quantity) => (q.real ? Math.max(q.sensitivity, 1e-12) / 1000 : 1)
  // Scale in grid steps: G groups × (Δ/γ, + one step per rounded component) / ε_q.
  const stepScale = (q: Quantity) => (G * (q.real ? q.sensitivity / grid(q) + q.parts : q.sensitivity)) / epsQ
  const draw = (key: unknown, name: string, q: Quantity, exact: number): number => {
    const g = grid(q)
    const steps = Math.round(exact / g)
    return (steps + sampleDiscreteLaplace(stepScale(q), noise(noiseLabel(grouped ? [key] : [], name)))) * g
  }
  const units = quantities.get('units')
  const threshold = units === undefined ? 0 : p.k + Math.ceil(stepScale(units) * Math.log(G / p.delta))

  const rows: unknown[][] = []
  for (const group of p.groups) {
    const lead = grouped ? [group.key] : []
    const noisyUnits = units === undefined ? undefined : draw(group.key, 'units', units, group.values.length)
    if (grouped && (group.values.length < p.k || noisyUnits! < threshold)) continue
    const count = (x: number | undefined) => BigInt(Math.max(0, x ?? 0))
    if (o.kind === 'category') {
      const q = quantities.get('histogram')!
      const counts = o.values.map(() => 0)
      for (const v of group.values) if (typeof v === 'number' && v >= 0 && v < counts.length) counts[v]!++
      o.values.forEach((c, i) => rows.push([...lead, c, count(draw(group.key, `histogram:${c}`, q, counts[i]!))]))
      continue
    }
    const q = quantities.get('sum')!
    const sums = Array.from({ length: width }, (_, i) => group.values.reduce<number>((s, v) => s + (Array.isArray(v) ? (v[i] ?? 0) : i === 0 ? v : 0), 0))
    const noisy = sums.map((s, i) => draw(group.key, width === 1 ? 'sum' : `sum:${i}`, q, s))
    // Post-processing: a mean is the noisy sum over the noisy unit count, clamped to the type's range.
    const values = aggregate === 'mean' ? noisy.map((s) => (noisyUnits! <= 0 ? null : clamp(s / noisyUnits!, o))) : noisy
    rows.push([...lead, ...values, count(noisyUnits)])
  }

  const valueNames = o.kind === 'category' ? ['category'] : width === 1 ? [aggregate] : Array.from({ length: width }, (_, i) => `${aggregate}_${i + 1}`)
  const columns = [
    ...(grouped ? [p.groupBy!] : []),
    ...valueNames.map((name) => ({ name, type: o.kind === 'category' ? 'VARCHAR' : 'DOUBLE' })),
    { name: 'units', type: 'BIGINT' },
  ]
  const noiseScale: Record<string, number> = {}
  if (o.kind === 'category') noiseScale['units'] = stepScale(quantities.get('histogram')!)
  else {
    const q = quantities.get('sum')!
    // For a mean this is the scale of its numerator (the sum); the mean's error also depends on the count.
    for (const name of valueNames) noiseScale[name] = stepScale(q) * grid(q)
    noiseScale['units'] = stepScale(units!)
  }
  return { columns, rows, suppressed: null, mechanism: 'discrete-laplace', noiseScale, epsilonSpent: p.epsilon, delta: grouped ? p.delta : null }
}
