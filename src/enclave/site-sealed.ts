/**
 * Bytes HPKE-sealed on a site's owner channels with the ingest enclave (site settings, realtime
 * stats answers): the site id's UTF-8 text is the AAD, so a sealed value cannot be moved to
 * another site, and `info` names what it is. Hex-encoded, as it travels in JSON.
 */
import { bytesToHex, hexToBytes, type Hex } from 'viem'
import { hpkeOpen, hpkeSeal } from '../crypto/hpke.js'

export type Sealed = { enc: Hex; ciphertext: Hex }

/** `bytes` sealed to `recipient` for `site`. */
export async function sealForSite(bytes: Uint8Array, p: { recipient: Uint8Array; info: Uint8Array; site: string }): Promise<Sealed> {
  const out = await hpkeSeal({ recipientPublicKey: p.recipient, info: p.info, aad: new TextEncoder().encode(p.site) }, bytes)
  return { enc: bytesToHex(out.enc), ciphertext: bytesToHex(out.ciphertext) }
}

/** Opens what sealForSite made for `site` (HPKE_OPEN_FAILED otherwise). */
export function openForSite(sealed: { enc: string; ciphertext: string }, p: { privateKey: Uint8Array; info: Uint8Array; site: string }): Promise<Uint8Array> {
  return hpkeOpen({ recipientPrivateKey: p.privateKey, enc: hexToBytes(sealed.enc as Hex), info: p.info, aad: new TextEncoder().encode(p.site) }, hexToBytes(sealed.ciphertext as Hex))
}
