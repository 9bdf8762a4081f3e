/**
 * The ingest enclave's door for web-analytics events: parses the sealed envelope the tracker
 * posted (src/tracker/event-format.ts) and opens it with this enclave's HPKE key. Everything in
 * it is the visitor's (untrusted) word, so every field is bounded here before anything uses it.
 */
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { hpkeReceiverExport } from '../crypto/hpke.js'
import { ENVELOPE_VERSION, EVENT_KEY_SIZE, MAX_SEQ, eventKeyContext, eventNonce, ingestInfo, type PlausibleEvent } from '../tracker/event-format.js'

export const SITE_ID = /^0x[0-9a-f]{64}$/
const B64URL = /^[A-Za-z0-9_-]+$/
/** Largest sealed event accepted (ciphertext, base64url characters). */
export const MAX_EVENT_CHARS = 8 * 1024

const envelopeSchema = z.object({
  v: z.literal(ENVELOPE_VERSION),
  s: z.string().regex(SITE_ID),
  k: z.string().length(43).regex(B64URL), // 32 bytes
  q: z.number().int().min(0).max(MAX_SEQ),
  c: z.string().min(22).max(MAX_EVENT_CHARS).regex(B64URL),
})

const scalar = z.union([z.string().max(300), z.number().finite(), z.boolean()])
const eventSchema = z.object({
  n: z.string().min(1).max(120),
  u: z.string().max(2048).url(),
  d: z.string().max(200),
  r: z.string().max(2048).nullish(),
  w: z.number().int().min(0).max(100_000).optional(),
  p: z.record(z.string().max(100), scalar).refine((p) => Object.keys(p).length <= 30, 'at most 30 props').optional(),
  $: z.object({ amount: z.union([z.number().finite(), z.string().regex(/^-?\d{1,15}(\.\d{1,6})?$/)]), currency: z.string().regex(/^[A-Z]{3}$/) }).optional(),
  i: z.string().max(200).optional(), // an opted-in visitor's token (ingest-visitor-rights.ts checks it)
})

export type OpenedEvent = { site: string; enc: string; seq: number; event: PlausibleEvent }

const bad = (what: string) => new W3aError('INPUT_MALFORMED', `sealed event: ${what}`)

/** Derived event keys by (site, enc): a page's later events cost no X25519 here either. Bounded. */
const MAX_CACHED_KEYS = 4096

export class EventOpener {
  private keys = new Map<string, CryptoKey>()
  constructor(private readonly privateKey: Uint8Array) {}

  async open(envelope: unknown): Promise<OpenedEvent> {
    const e = envelopeSchema.safeParse(envelope)
    if (!e.success) throw bad(e.error.issues[0]?.message ?? 'not an envelope')
    const { s: site, k, q, c } = e.data
    const key = await this.eventKey(site, k)
    let plaintext: ArrayBuffer
    try {
      plaintext = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: eventNonce(q) as BufferSource }, key, Buffer.from(c, 'base64url'))
    } catch (cause) {
      throw new W3aError('HPKE_OPEN_FAILED', 'sealed event does not open under this ingest key', { cause })
    }
    let json: unknown
    try {
      json = JSON.parse(new TextDecoder().decode(plaintext))
    } catch {
      throw bad('plaintext is not JSON')
    }
    const ev = eventSchema.safeParse(json)
    if (!ev.success) throw bad(ev.error.issues[0]?.message ?? 'not an event')
    return { site, enc: k, seq: q, event: ev.data as PlausibleEvent }
  }

  private async eventKey(site: string, enc: string): Promise<CryptoKey> {
    const id = `${site}/${enc}`
    const cached = this.keys.get(id)
    if (cached) return cached
    const secret = await hpkeReceiverExport({ recipientPrivateKey: this.privateKey, enc: Buffer.from(enc, 'base64url'), info: ingestInfo(site), exporterContext: eventKeyContext(), length: EVENT_KEY_SIZE })
    const key = await crypto.subtle.importKey('raw', secret as BufferSource, 'AES-GCM', false, ['decrypt'])
    secret.fill(0)
    this.keys.set(id, key)
    if (this.keys.size > MAX_CACHED_KEYS) this.keys.delete(this.keys.keys().next().value!)
    return key
  }
}
