/**
 * Sender side of the event envelope (event-format.ts): the tracker's only crypto, also used by
 * tests and any Node sender. One context per page: one X25519 key agreement, then AES-GCM.
 */
import { buf, hpkeExportToRecipient } from './hpke-export.js'
import { ENVELOPE_VERSION, EVENT_KEY_SIZE, eventKeyContext, eventNonce, ingestInfo, toB64url, type PlausibleEvent, type SealedEvent } from './event-format.js'

export type EventContext = { site: string; enc: string; key: CryptoKey }

export async function openEventContext(site: string, ingestKey: Uint8Array): Promise<EventContext> {
  const { enc, secret } = await hpkeExportToRecipient(ingestKey, ingestInfo(site), eventKeyContext(), EVENT_KEY_SIZE)
  return { site, enc: toB64url(enc), key: await crypto.subtle.importKey('raw', buf(secret), 'AES-GCM', false, ['encrypt']) }
}

export async function sealEvent(ctx: EventContext, seq: number, event: PlausibleEvent): Promise<SealedEvent> {
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv: buf(eventNonce(seq)) }, ctx.key, new TextEncoder().encode(JSON.stringify(event)))
  return { v: ENVELOPE_VERSION, s: ctx.site, k: ctx.enc, q: seq, c: toB64url(new Uint8Array(ct)) }
}
