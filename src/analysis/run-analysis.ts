/**
 * One SQL analysis inside the worker: budget check (before anything is decrypted or run) →
 * load + lock DuckDB → check the SQL on DuckDB's parse tree → run the canonical SQL → gate.
 */
import { W3aError } from '../core/errors.js'
import type { CustodyPolicy } from '../custody/policy.js'
import { checkBudget, EMPTY_LEDGER, type EpsilonLedger } from './budget.js'
import type { Rng } from './dp-noise.js'
import { planDpQuery, type Bounds, type Contribution } from './dp-query.js'
import { openAnalysisRunner, parserOf } from './duckdb-runner.js'
import { keyedRng } from './keyed-rng.js'
import { gateDp, gateThreshold, type Mechanism, type NoiseSource } from './privacy-gate.js'
import { checkSql, eachNode, type CheckedQuery } from './sql-checker.js'

export type SqlAnalysisRequest = {
  segmentFiles: string[]
  /** Expected columns of `data` (from the manifest); checked against the loaded segments. */
  schema?: { name: string; type?: string }[]
  /** The privacy unit column; null: the dataset declares none, and each row is its own unit (ROW_UNIT). */
  privacyUnit: string | null
  policy: CustodyPolicy
  sql: string
  /** ε for this query; 0 / absent = no DP noise (k threshold only). */
  epsilon?: number
  /** δ of a DP release (default DEFAULT_DELTA): sets how far above k a group's noisy unit count must be. */
  delta?: number
  /** Per-row clamp bounds per measure, required for DP sum/avg. */
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

function noiseOf(req: SqlAnalysisRequest): { noise?: NoiseSource } {
  const { rng, noiseSeed } = req
  if (noiseSeed) return { noise: (label) => keyedRng(noiseSeed, label) }
  return rng ? { noise: () => rng } : {}
}

export async function runSqlAnalysis(req: SqlAnalysisRequest): Promise<SqlAnalysisResult> {
  const epsilon = req.epsilon ?? 0
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
    const timeout = req.timeoutMs !== undefined ? { timeoutMs: req.timeoutMs } : {}
    let gated
    if (!dp) {
      gated = gateThreshold(await runner.query(checked.sql, timeout), checked, req.policy.k)
    } else {
      const names = (await runner.query(`${checked.sql} LIMIT 0`, timeout)).columns.map((c) => c.name).slice(0, checked.outputs.length)
      const plan = await planDpQuery(parser, checked, { privacyUnit: unit, ...(req.bounds ? { bounds: req.bounds } : {}), ...(req.contribution ? { contribution: req.contribution } : {}) })
      gated = gateDp(await runner.query(plan.sql, timeout), checked, plan, { k: req.policy.k, epsilon, outputNames: names, ...(req.delta !== undefined ? { delta: req.delta } : {}), ...noiseOf(req) })
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
