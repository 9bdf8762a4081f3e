/**
 * The worker's SQL checks, run where only public information is: the dataset's schema and
 * privacy unit (its manifest) and the analyst's own privacy parameters. The enforced policy
 * (column classes, k, min/max, ε budget) is confidential, held by custody; so this check
 * refuses exactly what the worker would refuse under EVERY policy the owner could have set:
 *
 * - the checker (checkSql) runs with the most permissive policy consistent with the query:
 *   the privacy unit is an identifier (always), min/max and exact answers allowed, quantile
 *   levels 0.01..0.99, and every other column a dimension, except the columns an aggregate
 *   takes, which must then be measures (with bounds: the owner's are not known here);
 * - under DP, the DP plan (planDpQuery) refuses sums and averages without bounds and bad
 *   contribution limits, as it does in the worker.
 *
 * No rule is written here: the checker and the planner are the worker's own functions. A query
 * that passes can still be refused by the owner's policy (a column that is an identifier or a
 * measure, min/max not allowed, ε over the budget).
 */
import type { PrivacyParams } from './analysis-request.js'
import { DEFAULT_POLICY, type CustodyPolicy } from '../custody/policy.js'
import { planDpQuery } from './dp-query.js'
import { ROW_UNIT } from './run-analysis.js'
import { checkSql, eachNode, type CheckedQuery, type Node, type SqlParser } from './sql-checker.js'

export type PublicCheckParameters = {
  parser: SqlParser
  /** The manifest's columns, in order. */
  columns: readonly { name: string }[]
  /** The manifest's privacy unit; null: each row is its own unit (ROW_UNIT), as in the worker. */
  privacyUnit: string | null
  sql: string
  privacy: PrivacyParams
}

export type PublicCheckReturnType = { checked: CheckedQuery; dp: boolean; policy: CustodyPolicy }

/** Throws the worker's own QUERY_REFUSED / INVALID_ARGUMENT / PRIVACY_UNIT_MISSING for a query no policy would let through. */
export async function checkQueryPublic(p: PublicCheckParameters): Promise<PublicCheckReturnType> {
  const unit = p.privacyUnit ?? ROW_UNIT
  const columns = [...p.columns.map((c) => c.name), ...(p.privacyUnit === null ? [ROW_UNIT] : [])]
  const dp = p.privacy.epsilon > 0
  const policy = permissivePolicy(columns, unit, await aggregatedColumns(p.parser, p.sql))
  const checked = await checkSql(p.parser, p.sql, { columns, privacyUnit: unit, policy, dp })
  if (dp) await planDpQuery(p.parser, checked, { privacyUnit: unit, bounds: { ...policy.bounds, ...(p.privacy.bounds ?? {}) }, ...(p.privacy.contribution ? { contribution: p.privacy.contribution } : {}) })
  return { checked, dp, policy }
}

// Aggregates whose argument must be a measure (count(DISTINCT …) excepted: it takes the unit).
const AGGREGATED = new Set(['count', 'sum', 'avg', 'mean', 'stddev', 'stddev_samp', 'stddev_pop', 'var_samp', 'var_pop', 'variance', 'approx_quantile', 'quantile_cont', 'median', 'min', 'max'])

function permissivePolicy(columns: readonly string[], unit: string, measures: ReadonlySet<string>): CustodyPolicy {
  const others = columns.filter((c) => c.toLowerCase() !== unit.toLowerCase())
  const wide = [-1e15, 1e15] as const // the owner's bounds are unknown here; any are accepted
  return {
    ...DEFAULT_POLICY,
    allowMinMax: true,
    allowExact: true,
    quantileRange: [0.01, 0.99],
    bounds: Object.fromEntries(others.filter((c) => measures.has(c.toLowerCase())).map((c) => [c, wide])),
    columns: { identifiers: [], dimensions: others.filter((c) => !measures.has(c.toLowerCase())), measures: others.filter((c) => measures.has(c.toLowerCase())) },
  }
}

/** Lower-cased names of columns that are the direct argument of an aggregate (unparsable text: none; the checker refuses it). */
async function aggregatedColumns(parser: SqlParser, sql: string): Promise<Set<string>> {
  const out = new Set<string>()
  let tree: unknown
  try {
    tree = JSON.parse(await parser.serialize(sql))
  } catch {
    return out
  }
  eachNode(tree, (o: Node) => {
    if (o.class !== 'FUNCTION' || !AGGREGATED.has(String(o.function_name).toLowerCase()) || o.distinct === true) return
    const arg = (o.children as Node[] | undefined)?.[0]
    const names = arg?.class === 'COLUMN_REF' ? (arg.column_names as unknown[]) : undefined
    if (Array.isArray(names) && typeof names.at(-1) === 'string') out.add((names.at(-1) as string).toLowerCase())
  })
  return out
}
