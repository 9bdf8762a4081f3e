/**
 * The SQL for a differentially private release, with per-unit contribution bounding
 * (after Wilson et al., "Differentially Private SQL with Bounded User Contribution", PETS 2020),
 * shaped so that no window runs over the event rows (a window materialises and sorts every row:
 * it failed at a few million rows within the worker's memory):
 *
 *   1. f:  the checked WHERE over `data`, projecting group keys, the privacy unit, measures (as
 *          DOUBLE, NULL where a value does not convert: no failure depends on a row);
 *   2. pu: one row per (group, unit), a hash aggregate: the unit's rows k, and per measure
 *          Σ clamp(measure, lower, upper) and its non-null count n; for a measure a quantile
 *          reads, the C clamped values of smallest row hash (min_by: which values are kept never
 *          depends on DuckDB's scan order);
 *   3.     each unit keeps at most G = maxGroupsPerUnit groups, chosen by a hash of (unit, key):
 *          it depends only on that unit's own data, and differs from unit to unit (a hash of the
 *          key alone would send every unit to the same group and empty the others). With G = 1
 *          (the default) a hash aggregate over units picks each unit's group (arg_min) before
 *          step 2, so only the kept rows are aggregated. With G > 1 a unit of ≤ min(G, C) rows (uk)
 *          has ≤ G groups and ≤ C rows in each: nothing of it is dropped or scaled, so its rows
 *          skip step 2 and go straight into step 4 (fw: per group, its distinct units and its
 *          rows' sums, the same figures its (unit, group) rows would give; holding those rows
 *          outgrew the worker's memory at 10 M events). The others' (unit, group) rows go through
 *          a window. Without GROUP BY a unit has one group and nothing is ranked;
 *   4. per group: units; Σ min(k, C) rows; per measure Σ min(n, C) and Σ sum·min(1, C/n) (the
 *          unit's sum scaled to C values' worth: its mean is kept, so avg stays unbiased); the
 *          concatenated value lists; ordered by the group keys (the analyst's ORDER BY first).
 *
 * So one unit changes, in at most G groups, a row count by ≤ C, a measure count by ≤ C, and a
 * measure sum by ≤ min(n, C)·max(|lower|, |upper|) ≤ C·max(|lower|, |upper|): the sensitivities
 * the gate calibrates noise to. The analyst's WHERE comes from the checked parse tree
 * (json_deserialize_sql); all else is assembled here from identifiers we quote and numbers we validated.
 */
import { W3aError } from '../core/errors.js'
import { colRef, deserialize, q, refuse, UNITS_ALIAS, zeroLocations, type CheckedQuery, type Node, type SqlParser } from './sql-checker.js'

export type Bounds = Record<string, readonly [number, number]>
export type Contribution = { maxRowsPerUnit: number; maxGroupsPerUnit: number }
export const DEFAULT_CONTRIBUTION: Contribution = { maxRowsPerUnit: 1, maxGroupsPerUnit: 1 }

export type DpPlan = {
  sql: string
  /** Measures used, with their clamp bounds; result columns __s<i> (sum), __n<i> (count) and, when a quantile reads it, __l<i> (clamped values). */
  measures: { column: string; lower: number; upper: number; values: boolean }[]
  contribution: Contribution
}

function num(x: number, what: string): string {
  if (!Number.isFinite(x) || Math.abs(x) > 1e15) throw new W3aError('INVALID_ARGUMENT', `${what} must be a finite number of magnitude ≤ 1e15`)
  return `CAST(${JSON.stringify(x)} AS DOUBLE)`
}

export async function planDpQuery(parser: SqlParser, checked: CheckedQuery, o: { privacyUnit: string; bounds?: Bounds; contribution?: Contribution }): Promise<DpPlan> {
  const contribution = o.contribution ?? DEFAULT_CONTRIBUTION
  for (const [k, v] of Object.entries(contribution)) {
    if (!Number.isSafeInteger(v) || v < 1 || v > 10_000) throw new W3aError('INVALID_ARGUMENT', `${k} must be an integer in 1..10000`)
  }
  const measures: DpPlan['measures'] = []
  for (const out of checked.outputs) {
    const d = out.dp
    if (d === undefined || (d.kind !== 'sum' && d.kind !== 'avg' && d.kind !== 'count-column' && d.kind !== 'quantile')) continue
    const seen = measures.find((m) => m.column === d.column)
    if (seen) {
      if (d.kind === 'quantile') seen.values = true
      continue
    }
    const b = Object.entries(o.bounds ?? {}).find(([k]) => k.toLowerCase() === d.column.toLowerCase())?.[1]
    if (b === undefined && d.kind !== 'count-column') refuse(`${d.kind}(${d.column}) without bounds`, `Give bounds for ${d.column}: [lower, upper] per row`)
    const [lower, upper] = b ?? [0, 0]
    if (!(lower <= upper)) throw new W3aError('INVALID_ARGUMENT', `bounds for ${d.column}: lower must be ≤ upper`)
    num(lower, 'lower bound')
    num(upper, 'upper bound')
    measures.push({ column: d.column, lower, upper, values: d.kind === 'quantile' })
  }
  const keys = checked.groupKeys
  const g = keys.map((_, i) => `__g${i}`)
  // 1. the checked filter, re-generated from the tree, projecting only what we need.
  const inner = structuredClone(checked.node)
  zeroLocations(inner)
  // A key is a column, or (by its alias) the checked, TRY-wrapped expression of dimensions.
  const key = (k: string, i: number): Node => {
    const e = checked.groupExpressions[k]
    if (e === undefined) return colRef(k, g[i]!)
    const copy = structuredClone(e)
    zeroLocations(copy)
    return { ...copy, alias: g[i]! }
  }
  inner.select_list = [...keys.map(key), colRef(o.privacyUnit, '__u'), ...measures.map((m, i) => colRef(m.column, `__m${i}`))] as Node[]
  inner.group_expressions = []
  inner.group_sets = []
  inner.having = null
  inner.modifiers = []
  // A measure is a number: a value that does not convert (text in a measure column) counts as
  // NULL. A CAST that failed on it would end the query only when its row is selected: an oracle.
  const numbers = measures.map((_, i) => `TRY_CAST(__m${i} AS DOUBLE) AS __m${i}`)
  const f = numbers.length === 0 ? await deserialize(parser, inner) : `SELECT * REPLACE (${numbers.join(', ')}) FROM (${await deserialize(parser, inner)})`
  const part = ['__u', ...g].join(', ')
  const gList = g.join(', ')
  const sel = (xs: string[]) => (xs.length > 0 ? xs.join(', ') + ', ' : '')
  // greatest/least skip NULLs (least(100, NULL) is 100): a NULL value stays NULL, out of sums and counts.
  const clamp = (m: DpPlan['measures'][number], i: number) => `CASE WHEN __m${i} IS NULL THEN NULL ELSE greatest(${num(m.lower, 'lower')}, least(${num(m.upper, 'upper')}, __m${i})) END`
  const order: string[] = []
  const ordered = new Set<number>()
  for (const mod of (checked.node.modifiers ?? []) as Node[]) {
    if (mod.type !== 'ORDER_MODIFIER') continue
    for (const t of mod.orders as Node[]) {
      const name = String(t.expression.column_names.at(-1)).toLowerCase()
      const i = keys.findIndex((k) => k.toLowerCase() === name)
      ordered.add(i)
      order.push(`${q(keys[i]!)} ${t.type === 'DESCENDING' ? 'DESC' : 'ASC'}`)
    }
  }
  // Then every other key: rows come in an order of their keys alone. Left to the hash aggregate,
  // the order depends on every row (groups the gate suppresses, which rows come first in a file),
  // and it is released outside the noise.
  keys.forEach((k, i) => ordered.has(i) || order.push(`${q(k)} ASC`))
  const C = contribution.maxRowsPerUnit
  const perUnit = measures.map((m, i) => {
    const v = clamp(m, i)
    // The C values of smallest hash of (value, unit, group): chosen by the unit's own data only.
    const values = m.values ? `, min_by(${v}, hash(${v}, ${part}), ${C}) FILTER (WHERE __m${i} IS NOT NULL) AS __l${i}` : ''
    return `, sum(${v}) AS __t${i}, count(__m${i}) AS __k${i}${values}`
  })
  const perGroup = measures.map((m, i) => {
    const scaled = `CASE WHEN __k${i} <= ${C} THEN __t${i} ELSE __t${i} * ${C} / __k${i} END`
    return `, coalesce(sum(${scaled}), 0) AS __s${i}, CAST(coalesce(sum(least(__k${i}, ${C})), 0) AS BIGINT) AS __n${i}${m.values ? `, coalesce(flatten(list(__l${i})), []) AS __l${i}` : ''}`
  })
  const G = contribution.maxGroupsPerUnit
  const aggregate = (where: string) => `SELECT ${sel(g)}__u, count(*) AS __k${perUnit.join('')} FROM fu WHERE ${where} GROUP BY ${part}`
  // One kept group per unit (the default): each unit's group of smallest hash of (unit, key) is
  // picked by a hash aggregate over units (arg_min), then only its rows are aggregated. No
  // (unit, group) row set is ranked: at 10 M rows that window outgrew the worker's memory.
  const keyOf = g.length === 1 ? g[0]! : `struct_pack(${g.map((x) => `${x} := ${x}`).join(', ')})`
  const pu =
    g.length === 0
      ? // Without GROUP BY a unit has one group: nothing to bound.
        `pu AS (SELECT __u, count(*) AS __k${perUnit.join('')} FROM f GROUP BY __u)`
      : G === 1
      ? [
          `pick AS (SELECT __u AS __cu, arg_min(${keyOf}, struct_pack(h := hash(${part}), k := ${keyOf})) AS __key FROM f GROUP BY __u),`,
          ` fu AS NOT MATERIALIZED (SELECT * FROM f JOIN pick ON __u IS NOT DISTINCT FROM __cu AND ${keyOf} IS NOT DISTINCT FROM __key),`,
          ` pu AS (${aggregate('true')})`,
        ].join('')
      : [
          // A unit with ≤ min(G, C) rows (most of a site's visitors) keeps all it has: its rows go
          // straight into the per-group aggregate (fw), no (unit, group) row of it is held. Only the
          // others go through the window, which ranks their (unit, group) rows by a hash of (unit, key).
          `uk AS (SELECT __u AS __cu, count(*) <= ${Math.min(G, C)} AS __few FROM f GROUP BY __u),`,
          ` fu AS NOT MATERIALIZED (SELECT * FROM f JOIN uk ON __u IS NOT DISTINCT FROM __cu),`,
          ` pu AS (SELECT * EXCLUDE (__gr) FROM (SELECT *, row_number() OVER (PARTITION BY __u ORDER BY hash(${part}), ${gList}) AS __gr`,
          ` FROM (${aggregate('NOT __few')})) WHERE __gr <= ${G}),`,
          // A unit counts once per group: count(DISTINCT) leaves out a NULL unit, which is one unit too.
          ` fw AS (SELECT ${gList}, count(DISTINCT __u) + max(CASE WHEN __u IS NULL THEN 1 ELSE 0 END) AS __units, count(*) AS __c`,
          measures.map((m, i) => `, sum(${clamp(m, i)}) AS __s${i}, count(__m${i}) AS __n${i}${m.values ? `, coalesce(list(${clamp(m, i)}) FILTER (WHERE __m${i} IS NOT NULL), []) AS __l${i}` : ''}`).join(''),
          ` FROM fu WHERE __few GROUP BY ${gList})`,
        ].join('')
  // Per group: the bounded (unit, group) rows of pu, plus (G > 1) the few-row units' rows of fw.
  const fromPu = `SELECT ${sel(g)}count(*) AS __units, sum(least(__k, ${C})) AS __c${perGroup.join('')} FROM pu${g.length > 0 ? ` GROUP BY ${gList}` : ''}`
  const perGroupSql = g.length > 0 && G > 1 ? `(${fromPu} UNION ALL SELECT * FROM fw)` : `(${fromPu})`
  const total = measures.map((m, i) => `, coalesce(sum(__s${i}), 0) AS __s${i}, CAST(coalesce(sum(__n${i}), 0) AS BIGINT) AS __n${i}${m.values ? `, coalesce(flatten(list(__l${i})), []) AS __l${i}` : ''}`)
  const sql = [
    `WITH f AS NOT MATERIALIZED (${f}), ${pu}`,
    `SELECT ${keys.map((k, i) => `${g[i]} AS ${q(k)}, `).join('')}CAST(sum(__units) AS BIGINT) AS ${UNITS_ALIAS}, CAST(coalesce(sum(__c), 0) AS BIGINT) AS __c`,
    total.join(''),
    ` FROM ${perGroupSql}`,
    g.length > 0 ? ` GROUP BY ${gList}` : '',
    order.length > 0 ? ` ORDER BY ${order.join(', ')}` : '',
  ].join('')
  return { sql, measures, contribution }
}

