/**
 * RFC 9180 HPKE receiver side, secret export only, for the project's suite (DHKEM(X25519,
 * HKDF-SHA256), HKDF-SHA256; src/crypto/hpke.ts) with node:crypto's native X25519 and HMAC,
 * synchronous. The ingest enclave opens one context per page load of every visitor, so this is
 * its hot path: @hpke/core's JavaScript X25519 costs milliseconds, this tens of microseconds.
 * Interop with @hpke/core and the tracker's WebCrypto sender: hpke-export-node.test.ts. Single-shot open and seal
 * (hpkeOpenSync, hpkeSealSync) serve the campaign aggregator's hot path the same way.
 */
import { createCipheriv, createDecipheriv, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { W3aError } from '../core/errors.js'

const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex')
const KEM_SUITE = Buffer.concat([Buffer.from('KEM'), Buffer.from([0, 0x20])])
const HPKE_SUITE = Buffer.concat([Buffer.from('HPKE'), Buffer.from([0, 0x20, 0, 1, 0, 1])])
const V1 = Buffer.from('HPKE-v1')
const EMPTY = Buffer.alloc(0)

/** A recipient's X25519 key, imported once. */
export type X25519Recipient = { privateKey: KeyObject; publicKey: Buffer }

export function x25519Recipient(secretKey: Uint8Array): X25519Recipient {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, secretKey]), format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' })
  return { privateKey, publicKey: spki.subarray(spki.length - 32) }
}

const ZERO_SALT = Buffer.alloc(32)
const ONE = Buffer.from([1])
// Each labeled input as one buffer, hashed in one update: the hot path runs seven of these per page load.
const extract = (suite: Buffer, salt: Buffer, label: string, ikm: Uint8Array) =>
  createHmac('sha256', salt.length ? salt : ZERO_SALT).update(Buffer.concat([V1, suite, Buffer.from(label), ikm])).digest()

const expand = (suite: Buffer, prk: Buffer, label: string, info: Uint8Array, length: number) =>
  createHmac('sha256', prk).update(Buffer.concat([Buffer.from([0, length]), V1, suite, Buffer.from(label), info, ONE])).digest().subarray(0, length)

/** LabeledExtract("", "psk_id_hash", "") of the base mode: the same for every context. */
const PSK_ID_HASH = extract(HPKE_SUITE, EMPTY, 'psk_id_hash', EMPTY)
/** key_schedule_context by `info` (a site's: a few distinct values), bounded. */
const ksContexts = new Map<string, Buffer>()
function ksContextOf(info: Uint8Array): Buffer {
  const id = Buffer.from(info.buffer, info.byteOffset, info.byteLength).toString('latin1')
  let c = ksContexts.get(id)
  if (!c) {
    c = Buffer.concat([Buffer.from([0]), PSK_ID_HASH, extract(HPKE_SUITE, EMPTY, 'info_hash', info)])
    if (ksContexts.size >= 1024) ksContexts.clear()
    ksContexts.set(id, c)
  }
  return c
}

/** SetupBaseR(enc, skR, info) then Export(exporterContext, length ≤ 32). */
export function hpkeReceiverExportSync(r: X25519Recipient, enc: Uint8Array, info: Uint8Array, exporterContext: Uint8Array, length: number): Uint8Array {
  if (enc.length !== 32 || length > 32) throw new W3aError('HPKE_OPEN_FAILED', 'Could not set up the HPKE context (malformed enc)')
  let dh: Buffer
  try {
    dh = diffieHellman({ privateKey: r.privateKey, publicKey: x25519Public(enc) })
  } catch (cause) {
    throw new W3aError('HPKE_OPEN_FAILED', 'Could not set up the HPKE context (wrong key or malformed enc)', { cause })
  }
  if (dh.every((b) => b === 0)) throw new W3aError('HPKE_OPEN_FAILED', 'Could not set up the HPKE context (small-order enc)')
  const shared = expand(KEM_SUITE, extract(KEM_SUITE, EMPTY, 'eae_prk', dh), 'shared_secret', Buffer.concat([enc, r.publicKey]), 32)
  const secret = extract(HPKE_SUITE, shared, 'secret', EMPTY)
  const exporter = expand(HPKE_SUITE, secret, 'exp', ksContextOf(info), 32)
  return new Uint8Array(expand(HPKE_SUITE, exporter, 'sec', exporterContext, length))
}

const AEAD_KEY = 16
const AEAD_NONCE = 12
const TAG = 16

/** The base-mode key schedule's AES-128-GCM key and nonce for a shared secret (RFC 9180 §5.1). */
function keySchedule(shared: Uint8Array, info: Uint8Array): { key: Buffer; nonce: Buffer } {
  const ksContext = ksContextOf(info)
  const secret = extract(HPKE_SUITE, Buffer.from(shared), 'secret', EMPTY)
  return { key: expand(HPKE_SUITE, secret, 'key', ksContext, AEAD_KEY), nonce: expand(HPKE_SUITE, secret, 'base_nonce', ksContext, AEAD_NONCE) }
}

/**
 * A raw X25519 public key as a KeyObject. Imported as a JWK: OpenSSL 3's DER decoder costs
 * ~90 µs a key, the JWK path ~8 µs, and the ingest enclave imports one per page load.
 */
function x25519Public(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url') }, format: 'jwk' })
}

/**
 * Single-shot Open (SetupBaseR, then one AES-128-GCM open at sequence 0, no AAD), the same as
 * hpke.ts's hpkeOpen with native X25519: a campaign aggregator opens one per respondent's answer.
 * Any failure is HPKE_OPEN_FAILED.
 */
export function hpkeOpenSync(r: X25519Recipient, enc: Uint8Array, info: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const fail = (cause?: unknown) => new W3aError('HPKE_OPEN_FAILED', 'Could not open the HPKE ciphertext', cause === undefined ? {} : { cause })
  if (enc.length !== 32 || ciphertext.length < TAG) throw fail()
  let dh: Buffer
  try {
    dh = diffieHellman({ privateKey: r.privateKey, publicKey: x25519Public(enc) })
  } catch (cause) {
    throw fail(cause)
  }
  if (dh.every((b) => b === 0)) throw fail()
  const shared = expand(KEM_SUITE, extract(KEM_SUITE, EMPTY, 'eae_prk', dh), 'shared_secret', Buffer.concat([enc, r.publicKey]), 32)
  const { key, nonce } = keySchedule(shared, info)
  try {
    const d = createDecipheriv('aes-128-gcm', key, nonce)
    d.setAuthTag(ciphertext.subarray(ciphertext.length - TAG))
    return new Uint8Array(Buffer.concat([d.update(ciphertext.subarray(0, ciphertext.length - TAG)), d.final()]))
  } catch (cause) {
    throw fail(cause)
  }
}

/** Single-shot Seal to `recipientPublicKey` (an ephemeral X25519 key per call), as hpke.ts's hpkeSeal does, natively. */
export function hpkeSealSync(recipientPublicKey: Uint8Array, info: Uint8Array, plaintext: Uint8Array): { enc: Uint8Array; ciphertext: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519')
  const spki = publicKey.export({ format: 'der', type: 'spki' })
  const enc = spki.subarray(spki.length - 32)
  const dh = diffieHellman({ privateKey, publicKey: x25519Public(recipientPublicKey) })
  const shared = expand(KEM_SUITE, extract(KEM_SUITE, EMPTY, 'eae_prk', dh), 'shared_secret', Buffer.concat([enc, recipientPublicKey]), 32)
  const { key, nonce } = keySchedule(shared, info)
  const c = createCipheriv('aes-128-gcm', key, nonce)
  const body = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()])
  return { enc: new Uint8Array(enc), ciphertext: new Uint8Array(body) }
}
