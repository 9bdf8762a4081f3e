/**
 * The analyst's result key: an HPKE key pair derived from the analyst's wallet, like the
 * owner's wrap key (owner-wrap-key.ts) but for another purpose, so the two keys are independent.
 * A job's request names its public half; the worker seals the output to it, and the analyst
 * opens any of their results later on any machine with only their wallet.
 *
 *   signature = sign_EIP712({ name: 'W3A Key Wrap', version: '1', chainId }, KeyWrap { purpose: ANALYST_RESULT_KEY_PURPOSE })
 *   key pair  = DeriveKeyPair(HKDF-SHA256(signature, info = "w3a/analyst-result-key/v1"))
 */
import type { LocalAccount } from 'viem'
import type { HpkeKeyPair } from './hpke.js'
import { deriveWalletKey } from './owner-wrap-key.js'

export const ANALYST_RESULT_KEY_PURPOSE = 'Derive my W3A analysis result key. Sign only on a W3A app.'
const INFO = new TextEncoder().encode('w3a/analyst-result-key/v1')

export async function deriveAnalystResultKey(params: { account: LocalAccount; chainId: number }): Promise<HpkeKeyPair> {
  return deriveWalletKey({ ...params, purpose: ANALYST_RESULT_KEY_PURPOSE, info: INFO })
}
