/**
 * The visitor's side of the data-rights crypto (docs/visitor.md), WebCrypto only: used by the
 * "my data" page (my-data.ts, which adds the IndexedDB storage and the DOM) and by tests as the
 * visitor. The enclave's side is src/enclave/ingest-visitor-rights.ts.
 */
import { recoverMessageAddress } from 'viem'
import { optInText } from './event-format.js'
import { VISITOR_BOX_INFO, visitorReceiptText, visitorRequestText, type VisitorAction, type VisitorAnswer, type VisitorRequest } from './visitor-format.js'

/** The visitor's two P-256 key pairs: ECDSA signs, ECDH opens the export box. */
export type VisitorKeys = { sign: CryptoKeyPair; box: CryptoKeyPair }

const subtle = crypto.subtle
const u8 = (b: ArrayBuffer) => new Uint8Array(b)
export const b64u = (b: Uint8Array): string => btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
export const unb64u = (s: string): Uint8Array => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))

/** New keys; private halves not extractable (the page stores the CryptoKey objects as they are). */
export async function makeVisitorKeys(): Promise<VisitorKeys> {
  return {
    sign: (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as CryptoKeyPair,
    box: (await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])) as CryptoKeyPair,
  }
}

const raw = async (k: CryptoKey) => b64u(u8(await subtle.exportKey('raw', k)))
const sign = async (k: VisitorKeys, text: string) => b64u(u8(await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, k.sign.privateKey, new TextEncoder().encode(text))))

/** The token the tracker carries once the visitor opts in on `site`: public key "." signature of optInText(site). */
export async function optInToken(k: VisitorKeys, site: string): Promise<string> {
  return `${await raw(k.sign.publicKey)}.${await sign(k, optInText(site))}`
}

/** A request signed with the visitor's key, naming their box key. */
export async function visitorRequest(k: VisitorKeys, site: string, action: VisitorAction, issuedAt = Math.floor(Date.now() / 1000)): Promise<VisitorRequest> {
  const body = { site: site.toLowerCase(), action, key: await raw(k.sign.publicKey), box: await raw(k.box.publicKey), issuedAt }
  return { ...body, signature: await sign(k, visitorRequestText(body)) }
}

/**
 * Checks an answer against the request it answers and the ingest worker's address: the receipt
 * must be for this request (kind, site, key, request digest, sealed digest) and recover to `worker`.
 * Returns an error text, or null when it verifies.
 */
export async function receiptProblem(answer: VisitorAnswer, request: VisitorRequest, worker: string): Promise<string | null> {
  const r = answer.receipt
  const digest = async (b64: string) => Array.from(u8(await subtle.digest('SHA-256', unb64u(b64) as BufferSource)), (x) => x.toString(16).padStart(2, '0')).join('')
  if (r.kind !== request.action || r.site !== request.site || r.key !== request.key || r.request !== (await digest(request.signature))) return 'the receipt is for another request'
  if (r.sealed !== (answer.box ? await digest(answer.box.ct) : '')) return 'the receipt names other data than the data sent'
  const signer = await recoverMessageAddress({ message: visitorReceiptText(r), signature: answer.signature as `0x${string}` }).catch(() => '')
  if (signer.toLowerCase() !== worker.toLowerCase() || r.worker !== worker.toLowerCase()) return `the receipt is signed by ${signer || 'nobody'}, not by the ingest worker ${worker}`
  return null
}

/** Opens an export sealed to the visitor's box key (enclave side: sealToBox). */
export async function openBox(k: VisitorKeys, box: NonNullable<VisitorAnswer['box']>): Promise<{ site: string; visitor: string; rows: Record<string, unknown>[] }> {
  const ecdh = { name: 'ECDH', namedCurve: 'P-256' }
  const epk = await subtle.importKey('raw', unb64u(box.epk) as BufferSource, ecdh, false, [])
  const shared = await subtle.deriveBits({ name: 'ECDH', public: epk }, k.box.privateKey, 256)
  const hkdf = await subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey'])
  const aes = await subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: new TextEncoder().encode(VISITOR_BOX_INFO) }, hkdf, { name: 'AES-GCM', length: 256 }, false, ['decrypt'])
  return JSON.parse(new TextDecoder().decode(await subtle.decrypt({ name: 'AES-GCM', iv: unb64u(box.iv) as BufferSource }, aes, unb64u(box.ct) as BufferSource)))
}
