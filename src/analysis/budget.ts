/**
 * The ε ledger check, made BEFORE a query runs: a query whose ε would take the dataset (all
 * analysts together, policy.epsilonBudget) or the analyst's own share past its limit is refused
 * with BUDGET_EXHAUSTED, and nothing is spent. Charging is immutable (a new ledger), so a
 * refused query provably leaves the ledger unchanged. The authoritative ledger lives in custody
 * state (src/custody/release-check.ts chargeAccess); this mirrors its rule for the worker.
 */
import { W3aError } from '../core/errors.js'
import type { CustodyPolicy } from '../custody/policy.js'

export type EpsilonLedger = Readonly<{ spent: number; perAnalyst: ReadonlyMap<string, number> }>

export type BudgetRequest = {
  policy: Pick<CustodyPolicy, 'epsilonBudget'>
  ledger: EpsilonLedger
  analyst?: string
  /** The analyst's share of policy.epsilonBudget (default: all of it). */
  analystBudget?: number
  epsilon: number
}

export const EMPTY_LEDGER: EpsilonLedger = Object.freeze({ spent: 0, perAnalyst: new Map<string, number>() })

// Sums of decimal ε values (0.1 + 0.2) must not refuse an exact fit.
const SLACK = 1e-9

/** Throws BUDGET_EXHAUSTED unless `epsilon` fits; returns the ε left after spending it. */
export function checkBudget(req: BudgetRequest): { epsilonLeft: number; analystEpsilonLeft: number } {
  const { epsilon } = req
  if (!Number.isFinite(epsilon) || epsilon < 0) throw new W3aError('INVALID_ARGUMENT', 'epsilon must be a finite number ≥ 0')
  const datasetLeft = req.policy.epsilonBudget - req.ledger.spent
  const analystSpent = req.analyst === undefined ? 0 : (req.ledger.perAnalyst.get(req.analyst.toLowerCase()) ?? 0)
  const analystLeft = Math.min(req.analystBudget ?? Infinity, req.policy.epsilonBudget) - analystSpent
  if (epsilon > datasetLeft + SLACK) {
    throw new W3aError('BUDGET_EXHAUSTED', 'The dataset privacy budget does not cover this query', { details: [`ε asked ${epsilon}, ε left ${Math.max(0, datasetLeft)}`] })
  }
  if (epsilon > analystLeft + SLACK) {
    throw new W3aError('BUDGET_EXHAUSTED', "The analyst's share of the privacy budget does not cover this query", { details: [`ε asked ${epsilon}, ε left ${Math.max(0, analystLeft)}`] })
  }
  return { epsilonLeft: Math.max(0, datasetLeft - epsilon), analystEpsilonLeft: Math.max(0, analystLeft - epsilon) }
}

/** A new ledger with `epsilon` charged (throws, leaving the old one untouched, if it does not fit). */
export function chargeBudget(req: BudgetRequest): { ledger: EpsilonLedger; epsilonLeft: number } {
  const { epsilonLeft } = checkBudget(req)
  const perAnalyst = new Map(req.ledger.perAnalyst)
  if (req.analyst !== undefined) {
    const a = req.analyst.toLowerCase()
    perAnalyst.set(a, (perAnalyst.get(a) ?? 0) + req.epsilon)
  }
  return { ledger: Object.freeze({ spent: req.ledger.spent + req.epsilon, perAnalyst }), epsilonLeft }
}
