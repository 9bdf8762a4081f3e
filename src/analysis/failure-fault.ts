/**
 * Who pays for a failed job, by its signed reason code: the analyst's doing (a refused or
 * malformed analysis, a refused budget or access) consumes the credit and the fee, since the
 * check ran and ε may be spent; a failure of the worker or the network (data unavailable,
 * internal error, the dataset deleted under the job) refunds both.
 *
 * This table and `ANALYST_FAULT_CODES` in contracts/Jobs.sol (`isAnalystFault`) say the same;
 * src/chain/market-jobs.test.ts checks every code against the contract. A new reason code must
 * be classified here (the Record type will not compile without it) and in that bit mask.
 */
import { JOB_FAILURE_CODES, failureReasonOfCode, type JobFailureReason } from './job-envelope.js'

export type FailureFault = 'analyst' | 'worker'

export const JOB_FAILURE_FAULT: Readonly<Record<JobFailureReason, FailureFault>> = {
  'query-refused': 'analyst',
  'budget-exhausted': 'analyst',
  'dataset-deleted': 'worker',
  'access-denied': 'analyst',
  'bad-analysis': 'analyst',
  'data-unavailable': 'worker',
  internal: 'worker',
  'worker-unavailable': 'worker',
  'query-failed': 'analyst',
  'analysis-not-allowed': 'worker',
}

/** As the contract decides: a code no reason has is refunded. */
export function isAnalystFault(reasonCode: number): boolean {
  const reason = failureReasonOfCode(reasonCode)
  return reason !== undefined && JOB_FAILURE_FAULT[reason] === 'analyst' && JOB_FAILURE_CODES[reason] === reasonCode
}

/** What a failure cost the analyst, in words for the CLI and the SDK's errors. */
export function failureCostNote(reasonCode: number): string {
  return isAnalystFault(reasonCode)
    ? 'its credit and fee were consumed (a failure of the analysis, not of the worker: see docs/analyst.md)'
    : 'its credit and fee were refunded'
}
