/**
 * HPKE (RFC 9180), base mode, one fixed suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
 * AES-128-GCM (the suite of RFC 9180 Appendix A.1). Keys cross this API as raw 32-byte
 * X25519 keys (RFC 9180 SerializePublicKey / SerializePrivateKey).
 *
 * The KEM is @hpke/dhkem-x25519 (noble, pure JS) rather than WebCrypto X25519, so the same
 * code runs in Node and in browsers without X25519 support; HKDF and AES-GCM are WebCrypto.
 */
import { Aes128Gcm, CipherSuite, HkdfSha256 } from '@hpke/core'
import { DhkemX25519HkdfSha256 } from '@hpke/dhkem-x25519'
import { W3aError } from '../core/errors.js'

export const HPKE_SUITE_ID = 'DHKEM(X25519,HKDF-SHA256)/HKDF-SHA256/AES-128-GCM'

export type HpkeKeyPair = { publicKey: Uint8Array /* 32 bytes */; privateKey: Uint8Array /* 32 bytes */ }

const KEY_SIZE = 32
const EMPTY = new Uint8Array(0)

let suite: CipherSuite | undefined

/** The suite object, for callers that need multi-message contexts or exports (same algorithms). */
export function hpkeCipherSuite(): CipherSuite {
  suite ??= new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() })
  return suite
}

export async function generateHpkeKeyPair(): Promise<HpkeKeyPair> {
  return exportPair(await hpkeCipherSuite().kem.generateKeyPair())
}

/** RFC 9180 DeriveKeyPair: the same ikm always gives the same key pair. ikm needs >= 32 bytes of entropy. */
export async function deriveHpkeKeyPair(ikm: Uint8Array): Promise<HpkeKeyPair> {
  if (!(ikm instanceof Uint8Array) || ikm.length < KEY_SIZE) throw new W3aError('INVALID_ARGUMENT', `HPKE key derivation needs at least ${KEY_SIZE} bytes of input keying material`)
  return exportPair(await hpkeCipherSuite().kem.deriveKeyPair(ikm))
}

export async function hpkeSeal(
  params: { recipientPublicKey: Uint8Array; info?: Uint8Array; aad?: Uint8Array },
  plaintext: Uint8Array,
): Promise<{ enc: Uint8Array; ciphertext: Uint8Array }> {
  return seal(params, plaintext, undefined)
}

/** Opens a single-shot HPKE ciphertext; any failure (key, enc, info, aad, ciphertext) is HPKE_OPEN_FAILED. */
export async function hpkeOpen(
  params: { recipientPrivateKey: Uint8Array; enc: Uint8Array; info?: Uint8Array; aad?: Uint8Array },
  ciphertext: Uint8Array,
): Promise<Uint8Array> {
  checkKey(params.recipientPrivateKey, 'recipient private key')
  const s = hpkeCipherSuite()
  try {
    const recipientKey = await s.kem.deserializePrivateKey(params.recipientPrivateKey)
    const pt = await s.open({ recipientKey, enc: params.enc, info: params.info ?? EMPTY }, ciphertext, params.aad ?? EMPTY)
    return new Uint8Array(pt)
  } catch (cause) {
    // One error for every failure: which check failed is no business of the sender.
    throw new W3aError('HPKE_OPEN_FAILED', 'Could not open the HPKE ciphertext (wrong key, wrong info/aad, or tampered data)', { cause })
  }
}

/**
 * Receiver side of an RFC 9180 secret export (§5.3): SetupBaseR(enc, skR, info) then
 * Export(exporterContext, length). Used to open web-analytics events (src/tracker/event-format.ts),
 * whose sender runs the same schedule with WebCrypto. Any failure is HPKE_OPEN_FAILED.
 */
export async function hpkeReceiverExport(params: { recipientPrivateKey: Uint8Array; enc: Uint8Array; info: Uint8Array; exporterContext: Uint8Array; length: number }): Promise<Uint8Array> {
  checkKey(params.recipientPrivateKey, 'recipient private key')
  const s = hpkeCipherSuite()
  try {
    const recipientKey = await s.kem.deserializePrivateKey(params.recipientPrivateKey)
    const ctx = await s.createRecipientContext({ recipientKey, enc: params.enc, info: params.info })
    return new Uint8Array(await ctx.export(params.exporterContext, params.length))
  } catch (cause) {
    throw new W3aError('HPKE_OPEN_FAILED', 'Could not set up the HPKE context (wrong key or malformed enc)', { cause })
  }
}

/**
 * Known-answer tests only: seals with the ephemeral key derived from `ephemeralIkm`, as the
 * RFC 9180 vectors do. Never use it for real data: a repeated ephemeral key gives up
 * confidentiality between messages.
 */
export const hpkeTesting = {
  sealWithEphemeralIkm: (
    params: { recipientPublicKey: Uint8Array; info?: Uint8Array; aad?: Uint8Array },
    plaintext: Uint8Array,
    ephemeralIkm: Uint8Array,
  ) => seal(params, plaintext, ephemeralIkm),
}

async function seal(
  params: { recipientPublicKey: Uint8Array; info?: Uint8Array; aad?: Uint8Array },
  plaintext: Uint8Array,
  ekm: Uint8Array | undefined,
): Promise<{ enc: Uint8Array; ciphertext: Uint8Array }> {
  checkKey(params.recipientPublicKey, 'recipient public key')
  const s = hpkeCipherSuite()
  let recipientPublicKey: CryptoKey
  try {
    recipientPublicKey = await s.kem.deserializePublicKey(params.recipientPublicKey)
  } catch (cause) {
    throw new W3aError('INVALID_ARGUMENT', 'Not a valid X25519 public key', { cause })
  }
  try {
    const r = await s.seal({ recipientPublicKey, info: params.info ?? EMPTY, ...(ekm ? { ekm } : {}) }, plaintext, params.aad ?? EMPTY)
    return { enc: new Uint8Array(r.enc), ciphertext: new Uint8Array(r.ct) }
  } catch (cause) {
    // e.g. a low-order public key, for which X25519 yields the all-zero shared secret
    throw new W3aError('INVALID_ARGUMENT', 'HPKE seal failed: the recipient public key was rejected', { cause })
  }
}

async function exportPair(pair: CryptoKeyPair): Promise<HpkeKeyPair> {
  const kem = hpkeCipherSuite().kem
  return {
    publicKey: new Uint8Array(await kem.serializePublicKey(pair.publicKey)),
    privateKey: new Uint8Array(await kem.serializePrivateKey(pair.privateKey)),
  }
}

function checkKey(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_SIZE) throw new W3aError('INVALID_ARGUMENT', `${what} must be ${KEY_SIZE} bytes`)
}
