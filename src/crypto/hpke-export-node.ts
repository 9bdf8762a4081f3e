/**
 * RFC 9180 HPKE receiver side, secret export only, for the project's suite (DHKEM(X25519,
 * HKDF-SHA256), HKDF-SHA256; src/crypto/hpke.ts) with node:crypto's native X25519 and HMAC,
 * synchronous. The ingest enclave opens one context per page load of every visitor, so this is
 * its hot path: @hpke/core's JavaScript X25519 costs milliseconds, this tens of microseconds.
 * Interop with @hpke/core and the tracker's WebCrypto sender: hpke-export-node.test.ts.
 */
import { createHmac, createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto'
import { W3aError } from '../core/errors.js'

const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex')
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex')
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

const extract = (suite: Buffer, salt: Buffer, label: string, ikm: Uint8Array) =>
  createHmac('sha256', salt.length ? salt : Buffer.alloc(32)).update(V1).update(suite).update(label).update(ikm).digest()

const expand = (suite: Buffer, prk: Buffer, label: string, info: Uint8Array, length: number) =>
  createHmac('sha256', prk).update(Buffer.from([0, length])).update(V1).update(suite).update(label).update(info).update(Buffer.from([1])).digest().subarray(0, length)

/** SetupBaseR(enc, skR, info) then Export(exporterContext, length ≤ 32). */
export function hpkeReceiverExportSync(r: X25519Recipient, enc: Uint8Array, info: Uint8Array, exporterContext: Uint8Array, length: number): Uint8Array {
  if (enc.length !== 32 || length > 32) throw new W3aError('HPKE_OPEN_FAILED', 'Could not set up the HPKE context (malformed enc)')
  let dh: Buffer
  try {
    dh = diffieHellman({ privateKey: r.privateKey, publicKey: createPublicKey({ key: Buffer.concat([SPKI_X25519, enc]), format: 'der', type: 'spki' }) })
  } catch (cause) {
    throw new W3aError('HPKE_OPEN_FAILED', 'Could not set up the HPKE context (wrong key or malformed enc)', { cause })
  }
  if (dh.every((b) => b === 0)) throw new W3aError('HPKE_OPEN_FAILED', 'Could not set up the HPKE context (small-order enc)')
  const shared = expand(KEM_SUITE, extract(KEM_SUITE, EMPTY, 'eae_prk', dh), 'shared_secret', Buffer.concat([enc, r.publicKey]), 32)
  const ksContext = Buffer.concat([Buffer.from([0]), extract(HPKE_SUITE, EMPTY, 'psk_id_hash', EMPTY), extract(HPKE_SUITE, EMPTY, 'info_hash', info)])
  const secret = extract(HPKE_SUITE, shared, 'secret', EMPTY)
  const exporter = expand(HPKE_SUITE, secret, 'exp', ksContext, 32)
  return new Uint8Array(expand(HPKE_SUITE, exporter, 'sec', exporterContext, length))
}
