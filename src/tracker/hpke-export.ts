/**
 * RFC 9180 HPKE, base mode, suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM (the
 * project's suite, src/crypto/hpke.ts), sender side, secret export only: SetupBaseS and
 * Export(exporter_context, L). WebCrypto only (X25519, HMAC-SHA256), so the tracker bundle
 * stays small; the ingest enclave opens it with @hpke/core (interop: tracker.test.ts, and the
 * RFC 9180 A.1 export vectors).
 */
const te = new TextEncoder()
const subtle = crypto.subtle

function cat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) out.set(p, (o += p.length) - p.length)
  return out
}

const KEM_SUITE = cat(te.encode('KEM'), [0, 0x20])
const HPKE_SUITE = cat(te.encode('HPKE'), [0, 0x20, 0, 1, 0, 1])

/** TypeScript's view: WebCrypto takes ArrayBuffer-backed views (ours always are). */
export const buf = (b: Uint8Array): BufferSource => b as BufferSource

async function hmac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await subtle.importKey('raw', buf(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  return new Uint8Array(await subtle.sign('HMAC', k, buf(data)))
}

/** LabeledExtract; an empty salt is HashLen zero bytes (RFC 5869), which HMAC pads to the same key. */
const extract = (suite: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array) =>
  hmac(salt.length ? salt : new Uint8Array(32), cat(te.encode('HPKE-v1'), suite, te.encode(label), ikm))

/** LabeledExpand for L ≤ 32 (one HKDF-Expand block). */
const expand = async (suite: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, L: number) =>
  (await hmac(prk, cat([0, L], te.encode('HPKE-v1'), suite, te.encode(label), info, [1]))).slice(0, L)

/**
 * SetupBaseS(pkR, info) then Export(exporterContext, L ≤ 32). `ephemeral` is for known-answer
 * tests only; otherwise a fresh X25519 key pair is made and dropped.
 */
export async function hpkeExportToRecipient(
  pkR: Uint8Array,
  info: Uint8Array,
  exporterContext: Uint8Array,
  L: number,
  ephemeral?: CryptoKeyPair,
): Promise<{ enc: Uint8Array; secret: Uint8Array }> {
  const x = { name: 'X25519' }
  const eph = ephemeral ?? ((await subtle.generateKey(x, true, ['deriveBits'])) as CryptoKeyPair)
  const enc = new Uint8Array(await subtle.exportKey('raw', eph.publicKey))
  const pub = await subtle.importKey('raw', buf(pkR), x, false, [])
  const dh = new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: pub } as never, eph.privateKey, 256))
  const empty = new Uint8Array(0)
  const shared = await expand(KEM_SUITE, await extract(KEM_SUITE, empty, 'eae_prk', dh), 'shared_secret', cat(enc, pkR), 32)
  const ksContext = cat([0], await extract(HPKE_SUITE, empty, 'psk_id_hash', empty), await extract(HPKE_SUITE, empty, 'info_hash', info))
  const secret = await extract(HPKE_SUITE, shared, 'secret', empty)
  const exporter = await expand(HPKE_SUITE, secret, 'exp', ksContext, 32)
  return { enc, secret: await expand(HPKE_SUITE, exporter, 'sec', exporterContext, L) }
}
