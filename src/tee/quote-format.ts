/**
 * Which kind of quote a byte string is (sim "W3AQ" or Intel DCAP v3/v4/v5), and its claimed
 * fields without verification — for the quoting side and for display only.
 */
import type { Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import { dcapQuoteFields } from './dcap.js'
import { parseSimQuote, SIM_QUOTE_MAGIC } from './sim-quote.js'
import type { TeeType } from './types.js'

export type QuoteFormat = 'sim' | 'dcap'

export function detectQuoteFormat(quote: Uint8Array): QuoteFormat {
  if (!(quote instanceof Uint8Array) || quote.length < 4) throw new W3aError('ATTESTATION_INVALID', 'not a quote: fewer than 4 bytes')
  if (SIM_QUOTE_MAGIC.every((b, i) => quote[i] === b)) return 'sim'
  const version = quote[0]! | (quote[1]! << 8) // DCAP header: u16 LE version first
  if (version === 3 || version === 4 || version === 5) return 'dcap'
  throw new W3aError('ATTESTATION_INVALID', 'not a quote: neither a sim quote ("W3AQ") nor an Intel DCAP quote (header version 3, 4 or 5)')
}

/** Claimed (unverified) TEE type, measurement and report data. */
export function readQuoteFields(quote: Uint8Array): { teeType: TeeType; measurement: Hex; reportData: Hex } {
  if (detectQuoteFormat(quote) === 'sim') {
    const q = parseSimQuote(quote)
    return { teeType: 'sim', measurement: q.measurement, reportData: q.reportData }
  }
  return dcapQuoteFields(quote)
}
