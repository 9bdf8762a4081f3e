/**
 * The ingest enclave's door for web-analytics events: parses the sealed envelope the tracker
 * posted (src/tracker/event-format.ts) and opens it with this enclave's HPKE key. Everything in
 * it is the visitor's (untrusted) word, so every field is bounded here before anything uses it.
 */
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { zodIssueText } from '../core/zod-issue.js'
import { createDecipheriv } from 'node:crypto'
import { hpkeReceiverExportSync, x25519Recipient, type X25519Recipient } from '../crypto/hpke-export-node.js'
import { ENVELOPE_VERSION, EVENT_KEY_SIZE, MAX_SEQ, eventKeyContext, eventNonce, ingestInfo, type PlausibleEvent } from '../tracker/event-format.js'

export const SITE_ID = /^0x[0-9a-f]{64}$/
const B64URL = /^[A-Za-z0-9_-]+$/
/**
 * 32 bytes as 43 base64url characters, spelled the one way: the last character's 2 low bits are
 * padding, so 4 spellings decode to the same enc. A replay (site, enc, seq) is known by its text,
 * and without this a host replays an envelope 3 more times under the other spellings.
 */
const ENC_32 = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/
const bad = (what: string) => new W3aError('INPUT_MALFORMED', `sealed event: ${what}`)

/** Largest sealed event accepted (ciphertext, base64url characters). */
export const MAX_EVENT_CHARS = 8 * 1024

/**
 * The envelope's fields checked by hand, not by a schema: this runs once per event on the ingest
 * hot path, and the envelope is five flat fields. Same rules as the tracker's format.
 */
function checkEnvelope(e: unknown): { s: string; k: string; q: number; c: string } {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) throw bad('not an envelope')
  const { v, s, k, q, c } = e as Record<string, unknown>
  if (v !== ENVELOPE_VERSION) throw bad(`v: expected ${ENVELOPE_VERSION}`)
  if (typeof s !== 'string' || !SITE_ID.test(s)) throw bad('s: a site id (0x and 64 lowercase hex digits)')
  if (typeof k !== 'string' || !ENC_32.test(k)) throw bad('k: 43 base64url characters (32 bytes, unpadded, canonical)')
  if (typeof q !== 'number' || !Number.isInteger(q) || q < 0 || q > MAX_SEQ) throw bad(`q: an integer from 0 to ${MAX_SEQ}`)
  if (typeof c !== 'string' || c.length < 22 || c.length > MAX_EVENT_CHARS || !B64URL.test(c)) throw bad(`c: 22 to ${MAX_EVENT_CHARS} base64url characters`)
  return { s, k, q, c }
}

const scalar = z.union([z.string().max(300), z.number().finite(), z.boolean()])
const eventSchema = z.object({
  n: z.string().min(1).max(120),
  u: z.string().max(2048), // parsed as a URL once, by enrich (ingest-enrich.ts), which refuses what is not one
  d: z.string().max(200),
  r: z.string().max(2048).nullish(),
  w: z.number().int().min(0).max(100_000).optional(),
  p: z.record(z.string().max(100), scalar).refine((p) => Object.keys(p).length <= 30, 'at most 30 props').optional(),
  $: z.object({ amount: z.union([z.number().finite(), z.string().regex(/^-?\d{1,15}(\.\d{1,6})?$/)]), currency: z.string().regex(/^[A-Z]{3}$/) }).optional(),
  i: z.string().max(200).optional(), // an opted-in visitor's token (ingest-visitor-rights.ts checks it)
})

/** `pageLoad`: the page load the event came from (`site/enc`: one HPKE context per page load), the key of what is kept per page. */
export type OpenedEvent = { site: string; pageLoad: string; seq: number; event: PlausibleEvent }


/** Derived event keys by (site, enc): a page's later events cost no X25519 here either (AES-GCM only). Bounded. */
const MAX_CACHED_KEYS = 65_536

export class EventOpener {
  private keys = new Map<string, Buffer>()
  private readonly recipient: X25519Recipient
  constructor(privateKey: Uint8Array) {
    this.recipient = x25519Recipient(privateKey)
  }

  /** Keys cached now (for tests: a refused envelope leaves none). */
  get cachedKeys(): number {
    return this.keys.size
  }

  /**
   * `admit` sees the site id (clear in the envelope) before any key agreement and throws to refuse
   * it: an event for a site not served here costs a regex, not an X25519 operation.
   */
  open(envelope: unknown, admit: (site: string) => void = () => {}): OpenedEvent {
    const { s: site, k, q, c } = checkEnvelope(envelope)
    admit(site)
    const id = `${site}/${k}`
    const cached = this.keys.get(id)
    const key = cached ?? this.eventKey(site, k)
    let plaintext: Buffer
    try {
      const sealed = Buffer.from(c, 'base64url')
      if (sealed.length < 16) throw new Error('shorter than its tag')
      const d = createDecipheriv('aes-256-gcm', key, eventNonce(q))
      d.setAuthTag(sealed.subarray(sealed.length - 16))
      plaintext = Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()])
    } catch (cause) {
      if (!cached) key.fill(0)
      throw new W3aError('HPKE_OPEN_FAILED', 'sealed event does not open under this ingest key', { cause })
    }
    // Kept only once a ciphertext opened under it: random encs would otherwise evict real pages' keys.
    if (!cached) this.keep(id, key)
    let json: unknown
    try {
      json = JSON.parse(plaintext.toString('utf8'))
    } catch {
      throw bad('plaintext is not JSON')
    }
    const ev = eventSchema.safeParse(json)
    // Named by its top-level field only: below it (props) the keys are the visitor's plaintext.
    if (!ev.success) throw bad(zodIssueText(ev.error, 1))
    return { site, pageLoad: id, seq: q, event: ev.data as PlausibleEvent }
  }

  private eventKey(site: string, enc: string): Buffer {
    return Buffer.from(hpkeReceiverExportSync(this.recipient, Buffer.from(enc, 'base64url'), ingestInfo(site), eventKeyContext(), EVENT_KEY_SIZE))
  }

  private keep(id: string, key: Buffer): void {
    this.keys.set(id, key)
    if (this.keys.size > MAX_CACHED_KEYS) {
      const oldest = this.keys.keys().next().value!
      this.keys.get(oldest)!.fill(0)
      this.keys.delete(oldest)
    }
  }
}
