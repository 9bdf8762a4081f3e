/**
 * How an error in the worker becomes a job's public failure reason and the detail sealed to the
 * analyst (docs/analysis.md, "Failure reports"). Only refusals made before any row was read
 * (the checker on the SQL and the public schema, the policy's terms, the budget) keep their text:
 * it quotes the analyst's own SQL and column names. Everything raised while rows were read ends
 * with a fixed text, since an engine message can quote a value, and which error it was can depend
 * on the rows.
 */
import { W3aError, isW3aError } from '../core/errors.js'
import { QUERY_FAILED_MESSAGE } from './duckdb-runner.js'
import type { JobFailureReason } from './job-envelope.js'

export function failureOfError(e: unknown): JobFailureReason {
  if (isW3aError(e, 'QUERY_FAILED')) return 'query-failed'
  if (isW3aError(e, 'POLICY_INVALID') || isW3aError(e, 'ACCESS_DENIED')) return 'access-denied'
  if (isW3aError(e, 'BUDGET_EXHAUSTED')) return 'budget-exhausted'
  if (isW3aError(e, 'QUERY_REFUSED') || isW3aError(e, 'PRIVACY_UNIT_MISSING') || isW3aError(e, 'INVALID_ARGUMENT') || isW3aError(e, 'INPUT_MALFORMED')) return 'query-refused'
  if (e instanceof W3aError && /^(BLOCK_|CAR_|MANIFEST_|ENVELOPE_|GATEWAY_|PEER_)/.test(e.code)) return 'data-unavailable'
  return 'internal'
}

const FIXED: Partial<Record<JobFailureReason, string>> = { internal: 'internal error in the worker', 'query-failed': QUERY_FAILED_MESSAGE }

/** The text sealed to the analyst for a failure from `e`. */
export function failureDetail(reason: JobFailureReason, e: unknown): string {
  return FIXED[reason] ?? (e instanceof W3aError ? [e.shortMessage, ...e.details].join('\n') : FIXED.internal!)
}
