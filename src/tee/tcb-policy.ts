/**
 * The network's TCB policy: which Intel TCB statuses a worker's platform may have, which
 * security advisories the network tolerates, and how old a quote's verification may be.
 * Governance sets it in the WorkerRegistry (`setTcbPolicy`); every verifier of a tdx/sgx quote
 * (a keeper approving a registration, a keeper releasing a job or handing over, the SDK
 * checking a job's worker or a keeper's key, `w3a attest verify`) applies it through
 * `checkTcbPolicy`, the only place where a TCB status is accepted or refused.
 *
 * Rules, in this order (first failing rule wins):
 *   1. sim quotes are not judged here: they are gated by the registry's `allowSim` alone.
 *   2. status ∈ `statuses` → accepted as it is (default: UpToDate only).
 *   3. status ∈ `advisoryStatuses` → accepted only when EVERY advisory id of the quote's
 *      result is in `advisoryIds` (default: SWHardeningNeeded, and no advisory listed).
 *   4. anything else (OutOfDate, ConfigurationNeeded, …) → TCB_NOT_ALLOWED.
 *   5. age: `now − verifiedAt` (the time at which the collateral was checked valid) and, for a
 *      registered worker, `now − registeredAt` (when keepers checked its quote) must not
 *      exceed `maxQuoteAge` seconds → else ATTESTATION_TOO_OLD.
 * Status names and advisory ids compare exactly (Intel spells them `UpToDate`, `INTEL-SA-00334`).
 */
import { W3aError, type W3aErrorCode } from '../core/errors.js'
import type { TeeType } from './types.js'

export type TcbPolicy = {
  /** TCB statuses accepted as they are. */
  statuses: readonly string[]
  /** TCB statuses accepted only when every advisory id of the quote is in `advisoryIds`. */
  advisoryStatuses: readonly string[]
  /** Advisory ids (e.g. INTEL-SA-00334) the network tolerates on an `advisoryStatuses` platform. */
  advisoryIds: readonly string[]
  /** Seconds: older verifications and registrations are refused. */
  maxQuoteAge: number
}

/** What the registry holds until governance changes it (the contract's constructor sets the same). */
export const DEFAULT_TCB_POLICY: TcbPolicy = Object.freeze({
  statuses: Object.freeze(['UpToDate']),
  advisoryStatuses: Object.freeze(['SWHardeningNeeded']),
  advisoryIds: Object.freeze([]),
  maxQuoteAge: 30 * 24 * 3600,
})

/** The parts of a verified quote (and of its registration) the policy looks at. */
export type TcbSubject = {
  teeType: TeeType
  tcbStatus: string
  advisoryIds: readonly string[]
  /** Unix seconds at which the quote and its collateral were verified. */
  verifiedAt: number
  /** Unix seconds at which the worker registered with this quote (when it is a registered worker's). */
  registeredAt?: number
}

export type TcbRefusal = { code: Extract<W3aErrorCode, 'TCB_NOT_ALLOWED' | 'ATTESTATION_TOO_OLD'>; message: string; details: string[] }

/** Undefined when the policy accepts the quote at `now` (unix seconds); else why not. */
export function checkTcbPolicy(result: TcbSubject, policy: TcbPolicy, now: number): TcbRefusal | undefined {
  if (result.teeType === 'sim') return undefined
  const advisories = result.advisoryIds.length ? result.advisoryIds.join(', ') : 'none'
  if (!policy.statuses.includes(result.tcbStatus)) {
    if (!policy.advisoryStatuses.includes(result.tcbStatus)) {
      return {
        code: 'TCB_NOT_ALLOWED',
        message: `the platform's TCB status ${result.tcbStatus} is not allowed by this network`,
        details: [`allowed: ${[...policy.statuses, ...policy.advisoryStatuses.map((s) => `${s} (listed advisories only)`)].join(', ') || 'none'}`, `advisories: ${advisories}`],
      }
    }
    const unlisted = result.advisoryIds.filter((a) => !policy.advisoryIds.includes(a))
    if (unlisted.length > 0) {
      return {
        code: 'TCB_NOT_ALLOWED',
        message: `the platform's TCB status ${result.tcbStatus} carries advisories this network does not accept: ${unlisted.join(', ')}`,
        details: [`accepted advisories: ${policy.advisoryIds.join(', ') || 'none'}`],
      }
    }
  }
  const tooOld = (what: string, at: number): TcbRefusal | undefined =>
    now - at > policy.maxQuoteAge
      ? {
          code: 'ATTESTATION_TOO_OLD',
          message: `the quote was ${what} ${now - at} s ago, more than the network's maximum of ${policy.maxQuoteAge} s`,
          details: [`${what} at ${iso(at)} (unix ${at}); now ${iso(now)} (unix ${now})`],
        }
      : undefined
  return tooOld('verified', result.verifiedAt) ?? (result.registeredAt === undefined ? undefined : tooOld('registered', result.registeredAt))
}

/** checkTcbPolicy, throwing its refusal as a W3aError. */
export function assertTcbPolicy(result: TcbSubject, policy: TcbPolicy, now: number): void {
  const refusal = checkTcbPolicy(result, policy, now)
  if (refusal) throw new W3aError(refusal.code, refusal.message, { details: refusal.details })
}

/** How `w3a workers ls` and the SDK name a worker's TEE: `sim (dev)`, `tdx UpToDate`, `tdx (unchecked)`. */
export function describeTee(teeType: TeeType, tcbStatus?: string): string {
  if (teeType === 'sim') return 'sim (dev)'
  return tcbStatus === undefined ? `${teeType} (unchecked)` : `${teeType} ${tcbStatus}`
}

function iso(t: number): string {
  return new Date(t * 1000).toISOString()
}
