/**
 * The public record of how a job ended, as the worker serves it (GET /v1/jobs/{id}/result):
 * anyone can check its signature against the Jobs contract's digests (src/chain/jobs.ts); only
 * the analyst can open the sealed output or a failure's detail.
 *
 * A failure report says why in a reason code and name, never with data:
 *
 *   reasonHash = keccak256(utf8("w3a.failure-report.v1\n" ‖ canonical JSON of the report))
 *
 * Its `detail` (the checker's message, say) is sealed to the analyst, since it may quote their SQL.
 */
import { keccak256, stringToHex, type Hex } from 'viem'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { canonicalJson } from './analysis-request.js'

/** Reason codes as posted on chain (Jobs.submitFailure's uint8). */
export const JOB_FAILURE_CODES = {
  'query-refused': 1,
  'budget-exhausted': 2,
  'dataset-deleted': 3,
  'access-denied': 4,
  'bad-analysis': 5,
  'data-unavailable': 6,
  internal: 7,
  /** The worker's host could not take the job through (no release obtainable, a crash): the enclave
   *  signs it only for a job it never ran (enclave/service.ts `abandonJob`). */
  'worker-unavailable': 8,
  /** The query ran on the rows and did not complete (time, memory): the analyst's doing, paid like an answer. */
  'query-failed': 9,
  /** The policy does not allow the analysis kind or function the job declared: refused at the charge,
   *  before any ε was spent, so the credit comes back too (the refusal is the owner's rule, not a run). */
  'analysis-not-allowed': 10,
} as const
export type JobFailureReason = keyof typeof JOB_FAILURE_CODES

export function failureReasonOfCode(code: number): JobFailureReason | undefined {
  return (Object.keys(JOB_FAILURE_CODES) as JobFailureReason[]).find((k) => JOB_FAILURE_CODES[k] === code)
}

const hex = z.string().regex(/^0x([0-9a-fA-F]{2})*$/).transform((s) => s.toLowerCase() as Hex)
const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/).transform((s) => s.toLowerCase() as Hex)
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/).transform((s) => s.toLowerCase() as Hex)
const dec = z.string().regex(/^(0|[1-9][0-9]{0,77})$/)
const sealed = z.strictObject({ enc: hex, ciphertext: hex })

export const FailureReportSchema = z.strictObject({
  v: z.literal(1),
  jobId: dec,
  reasonCode: z.number().int().min(1).max(255),
  reason: z.enum(Object.keys(JOB_FAILURE_CODES) as [JobFailureReason, ...JobFailureReason[]]),
  detail: sealed.optional(),
})
export type FailureReport = z.infer<typeof FailureReportSchema>

export function failureReasonHash(report: FailureReport): Hex {
  return keccak256(stringToHex(`w3a.failure-report.v1\n${canonicalJson(report)}`))
}

const common = { v: z.literal(1), chainId: z.number().int().positive(), jobs: address, jobId: dec, worker: address, signature: hex }
export const ResultEnvelopeSchema = z.discriminatedUnion('status', [
  z.strictObject({
    ...common,
    status: z.literal('completed'),
    outputHash: hex32,
    output: sealed,
    /** A pool job: the contributors' weights the worker signed the root of (src/chain/royalty-tree.ts). Public: contributors claim with them. */
    royalties: z.strictObject({ weightsRoot: hex32, totalWeight: dec, weights: z.array(z.strictObject({ contributor: address, weight: dec })).max(1_000_000) }).optional(),
  }),
  z.strictObject({ ...common, status: z.literal('failed'), report: FailureReportSchema, reasonHash: hex32 }),
])
export type ResultEnvelope = z.infer<typeof ResultEnvelopeSchema>

export function parseResultEnvelope(value: unknown): ResultEnvelope {
  const r = ResultEnvelopeSchema.safeParse(value)
  if (!r.success) throw new W3aError('RESULT_INVALID', 'The job result envelope is malformed', { details: r.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`) })
  if (r.data.status === 'failed' && failureReasonHash(r.data.report) !== r.data.reasonHash) {
    throw new W3aError('RESULT_INVALID', 'The failure report does not hash to its reasonHash')
  }
  return r.data
}
