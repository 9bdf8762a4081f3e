/**
 * May this analyst run this analysis on this dataset now, spending ε? Used by analysis workers
 * before they decrypt anything, and to charge uses and budget afterwards.
 *
 * Checks, in order: dataset known and not deleted; analysis kind allowed by the policy; analyst
 * not denied and (if the allow-list is non-empty) allowed; an unexpired grant (expiresAt 0 =
 * never) with uses left (null = unlimited), unless the policy has openAccess and the analyst
 * holds no grant (then uses are unlimited: the market credit is what each job pays); ε within
 * the dataset's remaining budget (policy.epsilonBudget, all analysts together) and within the
 * analyst's share (policy.analystEpsilonBudget, when set).
 *
 * `admitted` (a job charge's: the owner's public market listing admitted this buyer, Market.mayBuy)
 * is access on its own, like openAccess: the allow/deny lists, grants, their expiry and uses are
 * not consulted (the listing is the owner's public promise to a buyer who paid); the analysis
 * kind and the ε budgets still are.
 * ε = 0 asks for an exact (k-threshold only) answer: only where the owner opted in
 * (policy.allowExact), at most policy.exactQueries charged per analyst, and not once the analyst's
 * ε is spent. Any other ε must be at least policy.minEpsilon: so a budget buys a bounded number
 * of releases (epsilonBudget / minEpsilon), which is also what bounds the total δ. ε charged is
 * never given back, whatever becomes of the job.
 *
 * `chargeAccess` returns a new state, like `applyInboxEntry`. Keepers only agree on state that
 * comes from the inbox, so a charge that must hold across keepers has to be posted through it
 * (or the jobs contract) and applied by every replica in the same order.
 */
import type { Address, Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import type { AnalysisKind } from './policy.js'
import { datasetRecord, getDataset, type CustodyState, type GrantRecord } from './state.js'

/** Exact (ε = 0) jobs custody charged this analyst on this dataset (the charges are kept per job). */
export function exactQueriesCharged(state: CustodyState, datasetId: Hex, analyst: Address): number {
  let n = 0
  const id = datasetId.toLowerCase()
  const who = analyst.toLowerCase()
  for (const [, c] of state.jobCharges.entries()) if (c.status === 'charged' && c.epsilonMicros === 0n && c.datasetId === id && c.analyst === who) n++
  return n
}

export type AccessRequest = {
  datasetId: Hex
  analyst: Address
  /** Absent: not known yet (a job charge: the analysis is sealed; keepers check its kind when they open it, jobs.ts). */
  analysis?: AnalysisKind
  epsilon: number
  /** unix seconds */
  now: bigint
  /** the market listing admitted the analyst */
  admitted?: boolean
}
export type AccessDenial = 'unknown-dataset' | 'deleted' | 'analysis-not-allowed' | 'denied' | 'not-granted' | 'grant-expired' | 'no-uses-left' | 'budget-exhausted' | 'analyst-budget-exhausted' | 'invalid-epsilon' | 'epsilon-below-minimum' | 'exact-not-allowed' | 'exact-queries-exhausted'
export type AccessDecision = { ok: true; usesLeft: number | null; epsilonLeft: number } | { ok: false; reason: AccessDenial }

// Sums of decimal ε values (0.1 + 0.2) must not refuse an exact fit.
const SLACK = 1e-9

export function checkAccess(state: CustodyState, req: AccessRequest): AccessDecision {
  if (typeof req.epsilon !== 'number' || !Number.isFinite(req.epsilon) || req.epsilon < 0) return { ok: false, reason: 'invalid-epsilon' }
  const r = getDataset(state, req.datasetId)
  if (!r) return { ok: false, reason: 'unknown-dataset' }
  if (r.deleted) return { ok: false, reason: 'deleted' }
  if (req.analysis !== undefined && !r.policy.analyses.includes(req.analysis)) return { ok: false, reason: 'analysis-not-allowed' }
  const analyst = String(req.analyst).toLowerCase() as Address
  const grant = grantOf(r.grants, analyst, req)
  if (req.admitted !== true) {
    if (r.policy.buyerDeny.includes(analyst)) return { ok: false, reason: 'denied' }
    if (r.policy.buyerAllow.length > 0 && !r.policy.buyerAllow.includes(analyst)) return { ok: false, reason: 'denied' }
    if (!grant && !r.policy.openAccess) return { ok: false, reason: 'not-granted' }
    if (grant && grant.expiresAt !== 0n && grant.expiresAt <= req.now) return { ok: false, reason: 'grant-expired' }
    if (grant && grant.usesLeft === 0) return { ok: false, reason: 'no-uses-left' }
  }
  const p = r.policy
  const epsilonLeft = p.epsilonBudget - r.budget.spent
  const share = p.analystEpsilonBudget
  const shareLeft = share === undefined ? Infinity : share - (r.budget.perAnalyst.get(analyst) ?? 0)
  // An exact query spends no ε but is not free: it is refused once the analyst could buy no DP query.
  const asked = req.epsilon === 0 ? p.minEpsilon : req.epsilon
  if (req.epsilon === 0 && !p.allowExact) return { ok: false, reason: 'exact-not-allowed' }
  if (req.epsilon !== 0 && req.epsilon < p.minEpsilon - SLACK) return { ok: false, reason: 'epsilon-below-minimum' }
  if (asked > epsilonLeft + SLACK) return { ok: false, reason: 'budget-exhausted' }
  if (asked > shareLeft + SLACK) return { ok: false, reason: 'analyst-budget-exhausted' }
  if (req.epsilon === 0 && exactQueriesCharged(state, req.datasetId, analyst) >= p.exactQueries) return { ok: false, reason: 'exact-queries-exhausted' }
  return { ok: true, usesLeft: grant ? grant.usesLeft : null, epsilonLeft }
}

/** Charges one use and ε; throws ACCESS_DENIED (with the reason) if `checkAccess` refuses. Returns a new state. */
export function chargeAccess(state: CustodyState, req: AccessRequest): { state: CustodyState; usesLeft: number | null; epsilonLeft: number } {
  const decision = checkAccess(state, req)
  if (!decision.ok) throw new W3aError('ACCESS_DENIED', 'Custody does not allow this analysis', { details: [`reason: ${decision.reason}`] })
  const id = req.datasetId.toLowerCase()
  const r = getDataset(state, req.datasetId)!
  const analyst = req.analyst.toLowerCase() as Address
  const grant = grantOf(r.grants, analyst, req)
  const usesLeft = !grant || grant.usesLeft === null ? null : grant.usesLeft - 1
  const grants = new Map(r.grants)
  if (grant) grants.set(analyst, Object.freeze({ expiresAt: grant.expiresAt, usesLeft }) as GrantRecord)
  const perAnalyst = new Map(r.budget.perAnalyst)
  perAnalyst.set(analyst, (perAnalyst.get(analyst) ?? 0) + req.epsilon)
  const spent = r.budget.spent + req.epsilon
  const next = datasetRecord({ ...r, grants, budget: { spent, perAnalyst } })
  return { state: Object.freeze({ ...state, datasets: state.datasets.set(id, next) }), usesLeft, epsilonLeft: r.policy.epsilonBudget - spent }
}

/** The grant that counts: none when the listing admitted the analyst (its uses are not spent). */
function grantOf(grants: ReadonlyMap<Address, GrantRecord>, analyst: Address, req: AccessRequest): GrantRecord | undefined {
  return req.admitted === true ? undefined : grants.get(analyst)
}
