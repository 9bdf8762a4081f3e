/**
 * The sealed event envelope (docs/formats.md, "Web analytics event envelope"), shared by the
 * tracker (browser) and the ingest enclave so the two sides can never drift. Pure code with
 * no imports: it is bundled into the ≤ 3 KB tracker.
 *
 * One HPKE key agreement per page load: the tracker sets up an RFC 9180 base-mode sender
 * context to the site's ingest key with info = INGEST_INFO ‖ site id, and takes the event key
 * from the context's secret export (RFC 9180 §5.3). Each event is then AES-256-GCM under that
 * key with the nonce built from its sequence number, so events open in any order and a page
 * with many events costs one X25519 operation.
 */
export const INGEST_INFO_PREFIX = 'w3a/ingest/v1/'
export const EVENT_KEY_LABEL = 'w3a/event-key/v1'
export const EVENT_KEY_SIZE = 32
export const ENVELOPE_VERSION = 1
/** Largest sequence number a page may use (the nonce holds 4 bytes of it). */
export const MAX_SEQ = 0xffffffff

/** What the tracker posts (JSON): every field but the site id is opaque to the gateway. */
export type SealedEvent = {
  /** envelope version */
  v: number
  /** site id (public: it routes the event) */
  s: string
  /** HPKE enc (the page's ephemeral X25519 public key), base64url */
  k: string
  /** sequence number of this event within the page's context */
  q: number
  /** AES-256-GCM ciphertext ‖ tag of the event JSON, base64url */
  c: string
}

/**
 * The plaintext inside: Plausible's own event body (n, u, d, r, w, p, $), so its fields map one
 * to one, plus `i`: an opted-in visitor's token (docs/visitor.md), absent otherwise.
 */
export type PlausibleEvent = {
  n: string
  u: string
  d: string
  r?: string | null
  w?: number
  p?: Record<string, string | number | boolean>
  $?: { amount: number | string; currency: string }
  i?: string
}

/**
 * The opt-in token a visitor's "my data" page hands the tracker (in the URL fragment
 * `#w3a-optin=TOKEN`; the tracker keeps it in the site's localStorage under `w3a_id`):
 * base64url(P-256 public key, raw 65 bytes) "." base64url(ECDSA-SHA256 signature, 64 bytes, of
 * optInText(site)). The ingest enclave checks it and derives the visitor's pseudonymous id.
 */
export const OPT_IN_PREFIX = 'w3a visitor opt-in v1\n'
export function optInText(site: string): string {
  return OPT_IN_PREFIX + site.toLowerCase()
}

const te = new TextEncoder()

export function ingestInfo(site: string): Uint8Array {
  return te.encode(INGEST_INFO_PREFIX + site)
}

export function eventKeyContext(): Uint8Array {
  return te.encode(EVENT_KEY_LABEL)
}

/** 12-byte AES-GCM nonce: 8 zero bytes ‖ seq (big-endian u32). The key is new per page, so seq alone is unique. */
export function eventNonce(seq: number): Uint8Array {
  const n = new Uint8Array(12)
  new DataView(n.buffer).setUint32(8, seq)
  return n
}

export function toB64url(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}
