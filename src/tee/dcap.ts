/**
 * Intel DCAP quote verification (TDX and SGX) with @phala/dcap-qvl, offline: the caller
 * supplies the collateral (PCK CRLs, TCB info, QE identity — as fetched from a PCCS, JSON
 * as in test/fixtures/tee-samples) and the time at which it must be valid. Nothing is fetched.
 */
import { Quote, verify as dcapVerify, type Collateral } from '@phala/dcap-qvl'
import { bytesToHex, keccak256, type Hex } from 'viem'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { checkDcapLayout } from './dcap-layout.js'
import { tdxMeasurement } from './tdx-measurement.js'
import type { VerifiedQuote } from './types.js'

const bytesField = z.union([z.string().regex(/^[0-9a-fA-F]*$/), z.array(z.number().int().min(0).max(255))])
/** Collateral JSON, as returned by dcap-qvl's getCollateral / a PCCS (see test/fixtures/tee-samples/*_collateral.json). */
export const dcapCollateralSchema = z.looseObject({
  pck_crl_issuer_chain: z.string(),
  root_ca_crl: bytesField,
  pck_crl: bytesField,
  tcb_info_issuer_chain: z.string(),
  tcb_info: z.string(),
  tcb_info_signature: bytesField,
  qe_identity_issuer_chain: z.string(),
  qe_identity: z.string(),
  qe_identity_signature: bytesField,
})

/** dcap-qvl's refusals that mean "collateral or certificates not valid at that time". */
const TIME_REFUSAL = /expired|not yet valid|in the future/i

export async function verifyDcapQuote(quote: Uint8Array, options: { collateral: unknown; now?: number }): Promise<VerifiedQuote> {
  if (!(quote instanceof Uint8Array)) throw new W3aError('INVALID_ARGUMENT', 'quote must be bytes')
  const collateral = parseCollateral(options.collateral)
  const now = options.now ?? Math.floor(Date.now() / 1000)
  if (!Number.isSafeInteger(now) || now < 0) throw new W3aError('INVALID_ARGUMENT', `verification time must be unix seconds, got ${String(options.now)}`)
  const layout = checkDcapLayout(quote)
  let result: ReturnType<typeof dcapVerify>
  try {
    result = dcapVerify(quote, collateral, now)
  } catch (e) {
    const reason = errorReason(e)
    const at = `checked at ${new Date(now * 1000).toISOString()} (unix ${now})`
    if (TIME_REFUSAL.test(reason)) {
      throw new W3aError('ATTESTATION_EXPIRED', `DCAP quote refused: ${reason} (${at})`, {
        details: ['The collateral (TCB info, QE identity, certificates) is not valid at that time: fetch fresh collateral from a PCCS.'],
        cause: e,
      })
    }
    throw new W3aError('ATTESTATION_INVALID', `DCAP quote refused: ${reason}`, { details: [at], cause: e })
  }
  const fields = dcapQuoteFields(quote)
  if (fields.teeType !== layout.teeType) throw new W3aError('INTERNAL', 'DCAP layout and parser disagree on the TEE type')
  return { ...fields, tcbStatus: result.status, advisoryIds: [...result.advisory_ids], verifiedAt: now, quoteHash: keccak256(quote) }
}

/**
 * Reads TEE type, measurement and report data from a DCAP quote WITHOUT verifying it (for the
 * quoting side, and for display). Never trust these values before verifyDcapQuote has passed.
 */
export function dcapQuoteFields(quote: Uint8Array): { teeType: 'tdx' | 'sgx'; measurement: Hex; reportData: Hex } {
  let parsed: Quote
  try {
    parsed = Quote.parse(quote)
  } catch (e) {
    throw new W3aError('ATTESTATION_INVALID', `not a DCAP quote: ${errorReason(e)}`, { cause: e })
  }
  const td = parsed.report.asTd10()
  if (td) {
    return {
      teeType: 'tdx',
      measurement: tdxMeasurement({ mrtd: td.mrTd, rtmr0: td.rtMr0, rtmr1: td.rtMr1, rtmr2: td.rtMr2 }),
      reportData: bytesToHex(td.reportData),
    }
  }
  const sgx = parsed.report.asSgx()
  if (!sgx) throw new W3aError('ATTESTATION_INVALID', 'DCAP quote has an unknown report type')
  return { teeType: 'sgx', measurement: bytesToHex(sgx.mrEnclave), reportData: bytesToHex(sgx.reportData) }
}

export function parseCollateral(raw: unknown): Collateral {
  if (raw === undefined || raw === null) {
    throw new W3aError('INVALID_ARGUMENT', 'a DCAP (tdx/sgx) quote needs collateral to be verified', {
      details: ['Collateral = PCK CRLs, TCB info and QE identity for the quote\'s platform, as JSON (fetch it from a PCCS).'],
    })
  }
  const r = dcapCollateralSchema.safeParse(raw)
  if (!r.success) {
    const first = r.error.issues[0]
    throw new W3aError('INVALID_ARGUMENT', `collateral is malformed: ${first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'invalid'}`)
  }
  return r.data as unknown as Collateral
}

function errorReason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e)
  const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : ''
  return `${msg}${cause}`.slice(0, 300)
}
