/**
 * One SQL analysis inside the worker: privacy parameters against the policy, budget check
 * (before anything is decrypted or run) → load + lock DuckDB → check the policy's column names
 * and the SQL on the schema → run the canonical SQL → gate.
 *
 * Everything that can refuse does so before a row is read, from public facts (the SQL, the
 * schema, the policy, ε). After that a query either answers or ends as QUERY_FAILED with one
 * fixed message, so no failure and no error text depends on the rows.
 */
import { W3aError } from '../core/errors.js'
import { checkPolicyColumns, type CustodyPolicy } from '../custody/policy.js'
import { checkBudget, EMPTY_LEDGER, type EpsilonLedger } from './budget.js'
import type { Rng } from './dp-noise.js'
import { planDpQuery, type Bounds, type Contribution } from './dp-query.js'
import { openAnalysisRunner, parserOf } from './duckdb-runner.js'
import { keyedRng } from './keyed-rng.js'
import { gateDp, gateThreshold, type Mechanism, type NoiseSource } from './privacy-gate.js'
import { checkSql, eachNode, refuse, type CheckedQuery } from './sql-checker.js'

export type SqlAnalysisRequest = {
  segmentFiles: string[]
  /** Expected columns of `data` (from the manifest); checked against the loaded segments. */
  schema?: { name: string; type?: string }[]
  /** The privacy unit column; null: the dataset declares none, and each row is its own unit (ROW_UNIT). */
  privacyUnit: string | null
  policy: CustodyPolicy
  sql: string
  /** ε for this query (absent: policy.defaultEpsilon); 0 asks for an exact answer (policy.allowExact only). δ is always policy.delta. */
  epsilon?: number
  /** Per-row clamp bounds per measure, each inside the policy's (absent: the policy's). */
  bounds?: Bounds
  contribution?: Contribution
  ledger?: EpsilonLedger
  analyst?: string
  analystBudget?: number
  /** One random stream for every draw (tests). */
  rng?: Rng
  /** The job's noise seed (custody/job-noise.ts): noise drawn per group and quantity from streams keyed by it. */
  noiseSeed?: Uint8Array
  timeoutMs?: number
  memoryLimit?: string
  threads?: number
}

export type SqlAnalysisResult = {
  columns: { name: string; type: string }[]
  rows: unknown[][]
  privacy: { k: number; suppressed: number | null; mechanism: Mechanism; noiseScale: Record<string, number>; epsilonSpent: number; epsilonLeft: number; delta: number | null }
}

/** The unit column added when a dataset declares no privacy unit: an identifier like any other. */
export const ROW_UNIT = '__w3a_row'

/** DuckDB's parser through the runner (kept for callers of the analysis library). */
export const runnerParser = parserOf

/** Where a release draws noise: streams keyed by the job's noise seed, one test stream, or fresh crypto draws. */
export function noiseOf(req: Pick<SqlAnalysisRequest, 'rng' | 'noiseSeed'>): { noise?: NoiseSource } {
  const { rng, noiseSeed } = req
  if (noiseSeed) return { noise: (label) => keyedRng(noiseSeed, label) }
  return rng ? { noise: () => rng } : {}
}

/**
 * The clamp bounds a DP query uses: the policy's public bounds, or tighter ones the analyst asks
 * for (a wider range than the owner declared would raise the sensitivity past what was promised).
 */
export function boundsFor(policy: CustodyPolicy, asked: Bounds | undefined): Bounds {
  const own = new Map(Object.entries(policy.bounds).map(([k, v]) => [k.toLowerCase(), [k, v] as const]))
  const out: Bounds = Object.fromEntries(own.values())
  for (const [name, [lo, hi]] of Object.entries(asked ?? {})) {
    const p = own.get(name.toLowerCase())
    if (p === undefined) refuse(`bounds for ${name}`, 'The dataset policy declares no bounds for it (only measures have bounds)')
    if (!(lo >= p[1][0] && hi <= p[1][1] && lo <= hi)) refuse(`bounds for ${name}`, `They must lie inside the policy's [${p[1][0]}, ${p[1][1]}]`)
    out[p[0]] = [lo, hi]
  }
  return out
}

export async function runSqlAnalysis(req: SqlAnalysisRequest): Promise<SqlAnalysisResult> {
  const policy = req.policy
  const epsilon = req.epsilon ?? policy.defaultEpsilon
  if (epsilon === 0 && !policy.allowExact) refuse('an exact answer (ε = 0)', `The dataset policy requires differential privacy: ask with ε ≥ ${policy.minEpsilon} (default ${policy.defaultEpsilon})`)
  if (epsilon !== 0 && epsilon < policy.minEpsilon - 1e-9) refuse(`ε ${epsilon}`, `The dataset policy's minimum ε per query is ${policy.minEpsilon}`)
  const bounds = boundsFor(policy, req.bounds)
  const { epsilonLeft } = checkBudget({ policy: req.policy, ledger: req.ledger ?? EMPTY_LEDGER, epsilon, ...(req.analyst !== undefined ? { analyst: req.analyst } : {}), ...(req.analystBudget !== undefined ? { analystBudget: req.analystBudget } : {}) })
  const unit = req.privacyUnit ?? ROW_UNIT
  const dp = epsilon > 0
  let checked: CheckedQuery | undefined
  const runner = await openAnalysisRunner({
    segmentFiles: req.segmentFiles,
    ...(req.privacyUnit === null ? { rowUnit: ROW_UNIT } : {}),
    ...(req.memoryLimit ? { memoryLimit: req.memoryLimit } : {}),
    ...(req.threads ? { threads: req.threads } : {}),
    // Check the SQL on the schema alone, then load only the columns it names (and the unit).
    selectColumns: async (columns, parser) => {
      if (req.schema) {
        const have = columns.map((c) => c.name.toLowerCase()).filter((n) => req.privacyUnit !== null || n !== ROW_UNIT).join(',')
        if (have !== req.schema.map((c) => c.name.toLowerCase()).join(',')) throw new W3aError('INPUT_MALFORMED', 'The segments do not have the manifest schema')
      }
      checkPolicyColumns(req.policy, columns.map((c) => c.name).filter((n) => req.privacyUnit !== null || n !== ROW_UNIT))
      if (!columns.some((c) => c.name.toLowerCase() === unit.toLowerCase())) {
        throw new W3aError('PRIVACY_UNIT_MISSING', `There is no column "${unit}" to use as the privacy unit`)
      }
      checked = await checkSql(parser, req.sql, { columns: columns.map((c) => c.name), privacyUnit: unit, policy: req.policy, dp })
      return [unit, ...referencedColumns(checked.node)]
    },
  })
  try {
    if (checked === undefined) throw new W3aError('INTERNAL', 'The runner loaded data without checking the query')
    const parser = runnerParser(runner)
    const timeout = { code: 'QUERY_FAILED' as const, ...(req.timeoutMs !== undefined ? { timeoutMs: req.timeoutMs } : {}) }
    let gated
    if (!dp) {
      gated = gateThreshold(await runner.query(checked.sql, timeout), checked, req.policy.k)
    } else {
      const names = (await runner.query(`${checked.sql} LIMIT 0`, timeout)).columns.map((c) => c.name).slice(0, checked.outputs.length)
      const plan = await planDpQuery(parser, checked, { privacyUnit: unit, bounds, ...(req.contribution ? { contribution: req.contribution } : {}) })
      gated = gateDp(await runner.query(plan.sql, timeout), checked, plan, { k: req.policy.k, epsilon, outputNames: names, delta: policy.delta, ...noiseOf(req) })
    }
    return {
      columns: gated.columns,
      rows: gated.rows,
      privacy: { k: req.policy.k, suppressed: gated.suppressed, mechanism: gated.mechanism, noiseScale: gated.noiseScale, epsilonSpent: gated.epsilonSpent, delta: gated.delta, epsilonLeft },
    }
  } finally {
    await runner.close()
  }
}

/** Every column name a parse tree refers to (COLUMN_REF nodes; aliases too, which match no column). */
export function referencedColumns(node: unknown): string[] {
  const out = new Set<string>()
  eachNode(node, (o) => {
    const names = o.column_names
    if (o.class === 'COLUMN_REF' && Array.isArray(names) && typeof names.at(-1) === 'string') out.add(names.at(-1) as string)
  })
  return [...out]
}
