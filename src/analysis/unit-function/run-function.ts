/**
 * One per-unit function analysis inside the worker (docs/analysis.md, "Per-unit functions"):
 * the policy's terms (kind, function hash, ε) and the source are checked before any row is
 * read; then DuckDB streams the rows ordered by privacy unit (then group, then every column, so
 * each unit's rows come in one deterministic order), each unit's rows (per group, at most G
 * groups and C rows each) go through the sandbox, and the answers through the unit gate.
 *
 * Everything that refuses does so from public facts, with its own text. After the first row is
 * read a job either answers or ends as QUERY_FAILED with one fixed text (a limit hit, a DuckDB
 * failure), as SQL jobs do (run-analysis.ts).
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js'
import { W3aError } from '../../core/errors.js'
import { analysisDenial, checkPolicyColumns, type CustodyPolicy } from '../../custody/policy.js'
import { functionHash, type FunctionAnalysisRequestBody } from '../analysis-request.js'
import { checkBudget, EMPTY_LEDGER, type EpsilonLedger } from '../budget.js'
import type { Rng } from '../dp-noise.js'
import { openAnalysisRunner } from '../duckdb-runner.js'
import { noiseOf, ROW_UNIT, type SqlAnalysisResult } from '../run-analysis.js'
import { classify, refuse } from '../sql-checker.js'
import { sqlIdent } from '../../storage/duckdb-sandbox.js'
import { openUnitFunction, type SandboxLimits, type UnitRow } from './sandbox.js'
import { gateUnitValues, type UnitGroup } from './unit-gate.js'
import type { UnitValue } from './output-type.js'

/** Rows one unit's function call sees per group by default (the first, in the job's order). */
export const DEFAULT_FUNCTION_ROWS_PER_UNIT = 1_000

export type FunctionAnalysisRequest = {
  segmentFiles: string[]
  schema?: { name: string; type?: string }[]
  privacyUnit: string | null
  policy: CustodyPolicy
  fn: Pick<FunctionAnalysisRequestBody, 'source' | 'output' | 'aggregate' | 'groupBy'>
  epsilon?: number
  /** maxRowsPerUnit: rows a call sees (default 1000); maxGroupsPerUnit: groups a unit answers in (default 1). */
  contribution?: { maxRowsPerUnit: number; maxGroupsPerUnit: number }
  ledger?: EpsilonLedger
  analyst?: string
  analystBudget?: number
  rng?: Rng
  noiseSeed?: Uint8Array
  limits?: Partial<SandboxLimits>
  memoryLimit?: string
  threads?: number
}

/** What a function answered on: the number of units and of calls (for the worker's stats, never released). */
export type FunctionAnalysisResult = SqlAnalysisResult & { stats: { units: number; calls: number } }

/** A DuckDB value as JSON for the function (dates, decimals and the like as their text). */
function jsonValue(v: unknown): string | number | boolean | null {
  if (v === null || v === undefined) return null
  if (typeof v === 'number') return Number.isFinite(v) ? v : null
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()
  if (typeof v === 'string' || typeof v === 'boolean') return v
  if (v instanceof Uint8Array) return null
  return String(v)
}

export async function runFunctionAnalysis(req: FunctionAnalysisRequest): Promise<FunctionAnalysisResult> {
  const { policy, fn } = req
  const denial = analysisDenial(policy, { kind: 'function', functionHash: functionHash(fn.source) })
  if (denial) throw new W3aError('ACCESS_DENIED', denial === 'analysis-not-allowed' ? "The dataset policy does not allow per-unit functions (its analyses lack 'function')" : 'The dataset policy does not allow this function (by its hash)', { details: [`reason: ${denial}`] })
  const epsilon = req.epsilon ?? policy.defaultEpsilon
  if (epsilon === 0) refuse('an exact answer (ε = 0) from a function', 'A function can single out one unit by its rows, so its answers are always noised: ask with ε > 0')
  if (epsilon < policy.minEpsilon - 1e-9) refuse(`ε ${epsilon}`, `The dataset policy's minimum ε per query is ${policy.minEpsilon}`)
  const { epsilonLeft } = checkBudget({ policy, ledger: req.ledger ?? EMPTY_LEDGER, epsilon, ...(req.analyst !== undefined ? { analyst: req.analyst } : {}), ...(req.analystBudget !== undefined ? { analystBudget: req.analystBudget } : {}) })
  const unit = req.privacyUnit ?? ROW_UNIT
  if (fn.groupBy !== undefined && classify(policy, unit, fn.groupBy) !== 'dimension') {
    refuse(`group by ${fn.groupBy}`, 'Only a dimension column (the policy\'s columns.dimensions) may group a function\'s answers')
  }
  const C = req.contribution?.maxRowsPerUnit ?? DEFAULT_FUNCTION_ROWS_PER_UNIT
  const G = fn.groupBy === undefined ? 1 : (req.contribution?.maxGroupsPerUnit ?? 1)
  const sandbox = await openUnitFunction({ source: fn.source, output: fn.output, ...(req.limits ? { limits: req.limits } : {}) })

  let columns: { name: string; type: string }[] = []
  const runner = await openAnalysisRunner({
    segmentFiles: req.segmentFiles,
    ...(req.privacyUnit === null ? { rowUnit: ROW_UNIT } : {}),
    ...(req.memoryLimit ? { memoryLimit: req.memoryLimit } : {}),
    ...(req.threads ? { threads: req.threads } : {}),
    selectColumns: async (schema) => {
      const named = schema.map((c) => c.name).filter((n) => req.privacyUnit !== null || n !== ROW_UNIT)
      if (req.schema && named.map((n) => n.toLowerCase()).join(',') !== req.schema.map((c) => c.name.toLowerCase()).join(',')) throw new W3aError('INPUT_MALFORMED', 'The segments do not have the manifest schema')
      checkPolicyColumns(policy, named)
      const find = (name: string) => schema.find((c) => c.name.toLowerCase() === name.toLowerCase())
      if (!find(unit)) throw new W3aError('PRIVACY_UNIT_MISSING', `There is no column "${unit}" to use as the privacy unit`)
      if (fn.groupBy !== undefined && !find(fn.groupBy)) refuse(`group by ${fn.groupBy}`, `The dataset has no such column (columns: ${named.join(', ')})`)
      columns = schema
      return schema.map((c) => c.name)
    },
  })
  try {
    const unitCol = columns.find((c) => c.name.toLowerCase() === unit.toLowerCase())!.name
    const groupCol = fn.groupBy === undefined ? undefined : columns.find((c) => c.name.toLowerCase() === fn.groupBy!.toLowerCase())!
    const shown = columns.filter((c) => req.privacyUnit !== null || c.name !== ROW_UNIT).map((c) => c.name)
    const order = [unitCol, ...(groupCol ? [groupCol.name] : []), ...shown].map((n) => `${sqlIdent(n)} NULLS FIRST`).join(', ')
    const groups = new Map<string, UnitGroup>()
    if (!groupCol) groups.set('', { key: null, values: [] })
    let units = 0
    let calls = 0
    // One unit's rows, split by group; answered when the next unit starts.
    let current: { id: string; byGroup: Map<string, { key: unknown; rows: UnitRow[] }> } | undefined
    const answer = async () => {
      if (!current) return
      units++
      // At most G groups per unit, picked by a hash of (unit, group): it depends on this unit's own data only.
      const picked = [...current.byGroup].sort(([a], [b]) => (pickOrder(current!.id, a) < pickOrder(current!.id, b) ? -1 : 1)).slice(0, G)
      for (const [gk, g] of picked) {
        const value: UnitValue = await sandbox.run(g.rows)
        calls++
        let group = groups.get(gk)
        if (!group) groups.set(gk, (group = { key: g.key, values: [] }))
        group.values.push(value)
      }
      current = undefined
    }
    await runner.stream(`SELECT * FROM data ORDER BY ${order}`, async (names, rows) => {
      const u = names.indexOf(unitCol)
      const gi = groupCol ? names.indexOf(groupCol.name) : -1
      const visible = names.map((n, i) => [n, i] as const).filter(([n]) => req.privacyUnit !== null || n !== ROW_UNIT)
      for (const r of rows) {
        const id = JSON.stringify(jsonValue(r[u]))
        if (current?.id !== id) {
          await answer()
          current = { id, byGroup: new Map() }
        }
        const key = gi < 0 ? null : jsonValue(r[gi])
        const gk = gi < 0 ? '' : JSON.stringify(key)
        let g = current.byGroup.get(gk)
        if (!g) current.byGroup.set(gk, (g = { key, rows: [] }))
        if (g.rows.length < C) g.rows.push(Object.fromEntries(visible.map(([n, i]) => [n, jsonValue(r[i])])))
      }
    })
    await answer()
    const gated = gateUnitValues({
      output: fn.output,
      aggregate: fn.aggregate,
      groups: [...groups.values()].sort((a, b) => (JSON.stringify(a.key) < JSON.stringify(b.key) ? -1 : 1)),
      ...(groupCol ? { groupBy: { name: groupCol.name, type: groupCol.type } } : {}),
      k: policy.k,
      epsilon,
      delta: policy.delta,
      maxGroupsPerUnit: G,
      ...noiseOf(req),
    })
    return {
      columns: gated.columns,
      rows: gated.rows,
      privacy: { k: policy.k, suppressed: gated.suppressed, mechanism: gated.mechanism, noiseScale: gated.noiseScale, epsilonSpent: gated.epsilonSpent, delta: gated.delta, epsilonLeft },
      stats: { units, calls },
    }
  } finally {
    await runner.close()
  }
}

function pickOrder(unit: string, group: string): string {
  return bytesToHex(sha256(utf8ToBytes(JSON.stringify([unit, group]))))
}
