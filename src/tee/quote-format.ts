/**
 * Which kind of quote a byte string is (sim "W3AQ" or Intel DCAP v3/v4/v5), and its claimed
 * fields without verification — for the quoting side and for display only.
 */
import type { Hex } from 'viem'
import { dcapQuoteFields } from './dcap.js'
import { detectQuoteFormat } from './quote-kind.js'
import { parseSimQuote } from './sim-quote.js'
import type { TeeType } from './types.js'

export { detectQuoteFormat, type QuoteFormat } from './quote-kind.js'

/** Claimed (unverified) TEE type, measurement and report data. */
export function readQuoteFields(quote: Uint8Array): { teeType: TeeType; measurement: Hex; reportData: Hex } {
  if (detectQuoteFormat(quote) === 'sim') {
    const q = parseSimQuote(quote)
    return { teeType: 'sim', measurement: q.measurement, reportData: q.reportData }
  }
  return dcapQuoteFields(quote)
}
