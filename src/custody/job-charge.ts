/**
 * Job charges: the Jobs contract posts one entry per submitted job to the custody inbox, in
 * clear, with itself as sender (contracts/Jobs.sol `_postCharge`):
 *
 *   abi.encode(string "w3a.job-charge.v3", uint256 jobId, address analyst, bytes32 datasetId,
 *              bytes32 analysisHash, bytes32 privacyParamsHash, uint64 epsilonMicros, bool admitted,
 *              uint8 analysisKind, bytes32 functionHash, string purpose)
 *
 * (v2, posted by the Jobs contract before it declared the analysis, stops after `admitted`: read
 * as before, with no kind, function or purpose.) `analysisKind` 0 SQL, 1 per-unit function, with
 * its `functionHash`: the policy's terms on them are checked before anything is charged.
 * `purpose`: what the analyst declared the result is for; on a pool only the contributions that
 * consent to it are read (pool.ts), and the charge records which (`inputs`).
 *
 * `admitted`: the owner's market listing admitted the analyst when the job was submitted
 * (Market.mayBuy: open to buyers, or this buyer admitted): it counts as access (release-check.ts),
 * so a buyer the listing admits is never refused for want of a grant after paying.
 *
 * Every keeper applies it in inbox order like an owner command: the analyst's grant loses a use
 * and ε is charged to the dataset's budget and the analyst's share (release-check.ts), or the
 * charge is refused with the reason. A keeper releases a job's dataset key only for a charge it
 * applied, so uses and budget are spent exactly once, the same on every replica, before any
 * plaintext is touched. Only entries whose sender is the configured Jobs contract are charges:
 * nobody else can spend an analyst's budget.
 */
import { decodeAbiParameters, encodeAbiParameters, hexToBytes, type Address, type Hex } from 'viem'
import type { AnalysisKind } from './policy.js'
import type { RefusalReason } from './receipt.js'

export const JOB_CHARGE_TAG = 'w3a.job-charge.v3'
const JOB_CHARGE_TAG_V2 = 'w3a.job-charge.v2'
const U64 = 1n << 64n

export type JobCharge = {
  jobId: bigint
  analyst: Address
  datasetId: Hex
  analysisHash: Hex
  privacyParamsHash: Hex
  epsilonMicros: bigint
  /** The market listing admitted the analyst at submission (not kept in the record). */
  admitted: boolean
} & Partial<DeclaredAnalysis>

/** What a v3 charge declares in clear about the sealed analysis. */
export type DeclaredAnalysis = { analysisKind: AnalysisKind; functionHash: Hex; purpose: string }

/** What custody state keeps per job: the charge, and whether it was applied or why not. */
export type JobChargeRecord = Readonly<
  Omit<JobCharge, 'jobId' | 'admitted'> & {
    /** Inbox index of the charge entry. */
    index: bigint
    status: 'charged' | 'refused'
    /** Why it was not charged (a receipt refusal reason). */
    reason?: RefusalReason
    /** A charged pool job: the contributions it may read (ids ascending, pool.ts). */
    inputs?: readonly Hex[]
  }
>

/** The state-map key of a job: 32-byte hex, so keys sort in job order. */
export function jobChargeKey(jobId: bigint): string {
  return `0x${jobId.toString(16).padStart(64, '0')}`
}

/** ε as the budget ledger counts it (a float; the chain carries millionths). */
export function epsilonOfMicros(micros: bigint): number {
  return Number(micros) / 1e6
}

const CHARGE_PARAMS = [
  { type: 'string' },
  { type: 'uint256' },
  { type: 'address' },
  { type: 'bytes32' },
  { type: 'bytes32' },
  { type: 'bytes32' },
  { type: 'uint64' },
  { type: 'bool' },
] as const
const CHARGE_PARAMS_V3 = [...CHARGE_PARAMS, { type: 'uint8' }, { type: 'bytes32' }, { type: 'string' }] as const
const KINDS: readonly AnalysisKind[] = ['sql', 'function']

/** The payload Jobs._postCharge posts (for tests and tools; the chain writes the real ones). */
export function encodeJobCharge(c: JobCharge, tag: string = JOB_CHARGE_TAG): Uint8Array {
  if (tag === JOB_CHARGE_TAG_V2) return hexToBytes(encodeAbiParameters(CHARGE_PARAMS, [tag, c.jobId, c.analyst, c.datasetId, c.analysisHash, c.privacyParamsHash, c.epsilonMicros, c.admitted]))
  const kind = KINDS.indexOf(c.analysisKind ?? 'sql')
  return hexToBytes(
    encodeAbiParameters(CHARGE_PARAMS_V3, [tag, c.jobId, c.analyst, c.datasetId, c.analysisHash, c.privacyParamsHash, c.epsilonMicros, c.admitted, kind, c.functionHash ?? ZERO, c.purpose ?? '']),
  )
}

const ZERO: Hex = `0x${'00'.repeat(32)}`

/** Decodes a charge entry's payload; undefined if it is not one (wrong tag, bad encoding). */
export function decodeJobCharge(payload: Uint8Array): JobCharge | undefined {
  try {
    const [tag, jobId, analyst, datasetId, analysisHash, privacyParamsHash, epsilonMicros, admitted] = decodeAbiParameters(CHARGE_PARAMS, payload)
    if ((tag !== JOB_CHARGE_TAG && tag !== JOB_CHARGE_TAG_V2) || epsilonMicros >= U64) return undefined
    let declared: DeclaredAnalysis | undefined
    if (tag === JOB_CHARGE_TAG) {
      const [, , , , , , , , kind, functionHash, purpose] = decodeAbiParameters(CHARGE_PARAMS_V3, payload)
      const analysisKind = KINDS[kind]
      if (analysisKind === undefined || purpose.length > 1024) return undefined
      declared = { analysisKind, functionHash: functionHash.toLowerCase() as Hex, purpose }
    }
    return {
      ...declared,
      jobId,
      analyst: analyst.toLowerCase() as Address,
      datasetId: datasetId.toLowerCase() as Hex,
      analysisHash: analysisHash.toLowerCase() as Hex,
      privacyParamsHash: privacyParamsHash.toLowerCase() as Hex,
      epsilonMicros,
      admitted,
    }
  } catch {
    return undefined
  }
}
