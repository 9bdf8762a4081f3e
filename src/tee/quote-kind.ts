/**
 * Which kind of quote a byte string is, by its header alone: sim ("W3AQ") or Intel DCAP
 * v3/v4/v5. Apart from quote-format.ts so that a verifier (a browser page) can tell a sim
 * quote without loading the DCAP parser.
 */
import { W3aError } from '../core/errors.js'
import { SIM_QUOTE_MAGIC } from './sim-quote.js'

export type QuoteFormat = 'sim' | 'dcap'

export function detectQuoteFormat(quote: Uint8Array): QuoteFormat {
  if (!(quote instanceof Uint8Array) || quote.length < 4) throw new W3aError('ATTESTATION_INVALID', 'not a quote: fewer than 4 bytes')
  if (SIM_QUOTE_MAGIC.every((b, i) => quote[i] === b)) return 'sim'
  const version = quote[0]! | (quote[1]! << 8) // DCAP header: u16 LE version first
  if (version === 3 || version === 4 || version === 5) return 'dcap'
  throw new W3aError('ATTESTATION_INVALID', 'not a quote: neither a sim quote ("W3AQ") nor an Intel DCAP quote (header version 3, 4 or 5)')
}
