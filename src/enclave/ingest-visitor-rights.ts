/**
 * Visitors' data rights inside the ingest enclave (issue 12, docs/visitor.md): an opted-in
 * visitor's pseudonymous id, and their signed requests to see (export) or delete what the site
 * holds about them, each answered with a receipt the ingest worker's attested key signs.
 *
 * Opt-in: the visitor's browser made a P-256 key pair; its events carry, sealed, a token (the
 * public key and its signature of optInText(site), src/tracker/event-format.ts). The enclave
 * checks the signature (once per token: cached) and uses
 *   pseudonym = HMAC-SHA256(K, site ‖ 0 ‖ public key)[0..16),  K = HMAC(sealing key, label)
 * as the visitor id: stable across days and restarts (so an opted-in visitor is one visitor),
 * unlinkable to the key without K, which never leaves the enclave. A token that does not check
 * is ignored (the event counts under the daily id, as if the visitor had not opted in).
 *
 * Requests: signed by the same key (visitorRequestText), at most MAX_REQUEST_AGE_S old. The
 * host relays them; it cannot make one (no key), and replaying one gets the same visitor's
 * answer again, sealed to that visitor's box key. An export is sealed to the box key named in
 * the signed request (ECDH P-256 → HKDF-SHA256 → AES-256-GCM): the host sees ciphertext only.
 * A deletion closes the visitor's open visit, removes their rows from memory and from the sealed log (rewritten), and
 * queues, durably before the receipt is signed, the rewrite of the site's stored segments
 * without them (ingest.ts prepareRewrite: under a new site key, old segments unpinned). The
 * receipt says 'pending'; a later 'rewrite' request gets the receipt naming the manifest whose
 * segments no longer hold their rows.
 */
import { createHash, createHmac } from 'node:crypto'
import type { LocalAccount } from 'viem'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { zodIssueText } from '../core/zod-issue.js'
import { optInText } from '../tracker/event-format.js'
import { VISITOR_ACTIONS, VISITOR_BOX_INFO, visitorReceiptText, visitorRequestText, type VisitorAnswer, type VisitorReceipt, type VisitorRequest } from '../tracker/visitor-format.js'
import type { EventRow, Ingest } from './ingest.js'

export const PSEUDONYM_LABEL = 'w3a/ingest/pseudonym/v1'
export const MAX_VISITOR_REQUEST_AGE_S = 300
/** Checked tokens kept (token → pseudonym): a page's events after the first cost no ECDSA check. */
const MAX_CACHED_TOKENS = 50_000

const subtle = crypto.subtle
const P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64url'))
const KEY = /^[A-Za-z0-9_-]{87}$/ // 65 bytes
const SIG = /^[A-Za-z0-9_-]{86}$/ // 64 bytes

async function verifyP256(key: string, signature: string, text: string): Promise<boolean> {
  try {
    const pub = await subtle.importKey('raw', b64(key) as BufferSource, P256, false, ['verify'])
    return await subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, pub, b64(signature) as BufferSource, new TextEncoder().encode(text))
  } catch {
    return false
  }
}

/** Opted-in visitors' pseudonymous ids, keyed by this enclave's sealing key. */
export class OptIns {
  private readonly key: Buffer
  private readonly tokens = new Map<string, string | null>()

  constructor(sealingKey: Uint8Array) {
    this.key = createHmac('sha256', sealingKey).update(PSEUDONYM_LABEL).digest()
  }

  /** The pseudonymous id for a visitor's public key (base64url raw P-256) on `site`. */
  pseudonym(site: string, publicKey: string): string {
    return createHmac('sha256', this.key).update(`${site}\0${publicKey}`).digest('hex').slice(0, 32)
  }

  /** The pseudonym an event's token stands for, or null when the token does not check. */
  async ofToken(site: string, token: string): Promise<string | null> {
    const id = `${site}/${token}`
    if (this.tokens.has(id)) return this.tokens.get(id)!
    const [key, signature] = token.split('.')
    const ok = key !== undefined && signature !== undefined && KEY.test(key) && SIG.test(signature) && (await verifyP256(key, signature, optInText(site)))
    const pseudonym = ok ? this.pseudonym(site, key) : null
    this.tokens.set(id, pseudonym)
    if (this.tokens.size > MAX_CACHED_TOKENS) this.tokens.delete(this.tokens.keys().next().value!)
    return pseudonym
  }
}

const requestSchema = z.strictObject({
  site: z.string().regex(/^0x[0-9a-f]{64}$/),
  action: z.enum(VISITOR_ACTIONS),
  key: z.string().regex(KEY),
  box: z.string().regex(KEY),
  issuedAt: z.number().int().positive(),
  signature: z.string().regex(SIG),
})

/** Checks a visitor's request (shape, age, signature by the key it names); returns it parsed. */
export async function checkVisitorRequest(raw: unknown, nowS: number): Promise<VisitorRequest> {
  const parsed = requestSchema.safeParse(raw)
  if (!parsed.success) throw new W3aError('INVALID_ARGUMENT', `visitor request: ${zodIssueText(parsed.error)}`)
  const r = parsed.data
  if (Math.abs(nowS - r.issuedAt) > MAX_VISITOR_REQUEST_AGE_S) throw new W3aError('COMMAND_EXPIRED', `visitor request issued more than ${MAX_VISITOR_REQUEST_AGE_S} s from now`, { details: ["Check the visitor's clock and send it again."] })
  if (!(await verifyP256(r.key, r.signature, visitorRequestText(r)))) throw new W3aError('SIGNATURE_INVALID', 'visitor request is not signed by the key it names')
  return r
}

/** Seals `plaintext` to a P-256 ECDH public key: an ephemeral key pair, HKDF-SHA256, AES-256-GCM. */
export async function sealToBox(box: string, plaintext: Uint8Array): Promise<{ epk: string; iv: string; ct: string }> {
  const ecdh = { name: 'ECDH', namedCurve: 'P-256' }
  const recipient = await subtle.importKey('raw', b64(box) as BufferSource, ecdh, false, [])
  const eph = (await subtle.generateKey(ecdh, true, ['deriveBits'])) as CryptoKeyPair
  const shared = await subtle.deriveBits({ name: 'ECDH', public: recipient }, eph.privateKey, 256)
  const hkdf = await subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey'])
  const aes = await subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: new TextEncoder().encode(VISITOR_BOX_INFO) }, hkdf, { name: 'AES-GCM', length: 256 }, false, ['encrypt'])
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const ct = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv }, aes, plaintext as BufferSource))
  const epk = new Uint8Array(await subtle.exportKey('raw', eph.publicKey))
  const u = (b: Uint8Array) => Buffer.from(b).toString('base64url')
  return { epk: u(epk), iv: u(iv), ct: u(ct) }
}

/** Answers a visitor's signed request: their rows sealed to them, or their rows deleted; a signed receipt either way. */
export async function answerVisitorRequest(p: { raw: unknown; ingest: Ingest; signer: LocalAccount; nowS: number }): Promise<VisitorAnswer> {
  const r = await checkVisitorRequest(p.raw, p.nowS)
  const visitor = p.ingest.optIns.pseudonym(r.site, r.key)
  const mine = (row: EventRow) => row.site === r.site && row.visitor === visitor
  const receipt: VisitorReceipt = { kind: r.action, site: r.site, visitor, key: r.key, rows: 0, at: p.nowS, request: sha256hex(b64(r.signature)), sealed: '', segments: '', worker: p.signer.address.toLowerCase() }
  let box: VisitorAnswer['box']
  if (r.action === 'export') {
    const rows = p.ingest.rowsOf(r.site, 0).filter(mine)
    box = await sealToBox(r.box, new TextEncoder().encode(JSON.stringify({ site: r.site, visitor, rows })))
    receipt.rows = rows.length
    receipt.sealed = sha256hex(b64(box.ct))
  } else if (r.action === 'delete') {
    receipt.rows = await p.ingest.deleteVisitor(r.site, visitor)
    receipt.segments = 'pending'
  } else {
    const stand = p.ingest.segmentDeletion(r.site, visitor)
    receipt.segments = stand === undefined ? '' : stand === 'pending' ? 'pending' : stand.manifestCid
    receipt.rows = typeof stand === 'object' ? stand.rows : 0
  }
  const signature = await p.signer.signMessage({ message: visitorReceiptText(receipt) })
  return { receipt, signature, ...(box ? { box } : {}) }
}

function sha256hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex')
}
