/**
 * The visitor's data-rights messages (docs/visitor.md), shared by the "my data" page (browser,
 * bundled to dist/js/my-data.js) and the ingest enclave, so both sides sign and check the same
 * bytes. Pure code with no imports.
 *
 * The visitor holds two P-256 key pairs made in their browser (WebCrypto, non-extractable,
 * kept in the gateway origin's IndexedDB): an ECDSA one that signs (the opt-in token, every
 * request) and whose public key the enclave turns into the visitor's pseudonymous id, and an
 * ECDH one ("box") that the enclave seals the visitor's export to.
 */
export const VISITOR_REQUEST_PREFIX = 'w3a visitor request v1\n'
export const VISITOR_RECEIPT_PREFIX = 'w3a visitor receipt v2\n'
/** HKDF info of the export box: ECDH(P-256) → HKDF-SHA256 → AES-256-GCM. */
export const VISITOR_BOX_INFO = 'w3a/visitor-box/v1'
/** 'rewrite' asks how far the visitor's deletion has reached the site's stored segments. */
export const VISITOR_ACTIONS = ['export', 'delete', 'rewrite'] as const
export type VisitorAction = (typeof VISITOR_ACTIONS)[number]

/** A request from the visitor's page; `key` and `box` are raw P-256 public keys (65 bytes), base64url. */
export type VisitorRequest = {
  site: string
  action: VisitorAction
  key: string
  box: string
  issuedAt: number
  /** ECDSA-SHA256 signature (IEEE P1363, 64 bytes) of visitorRequestText, base64url */
  signature: string
}

/** The bytes the visitor's key signs: every field but the signature, in a fixed order. */
export function visitorRequestText(r: Omit<VisitorRequest, 'signature'>): string {
  return VISITOR_REQUEST_PREFIX + JSON.stringify({ site: r.site.toLowerCase(), action: r.action, key: r.key, box: r.box, issuedAt: r.issuedAt })
}

/**
 * What the ingest enclave states and signs (EIP-191, with the ingest worker's attested key)
 * after an export or a deletion: `rows` is how many of the visitor's rows it sent or removed,
 * `request` the SHA-256 (hex) of the request's signature, `sealed` the SHA-256 (hex) of the
 * export's ciphertext ('' otherwise).
 *
 * `segments` is where the deletion stands in the site's stored segments: '' for an export;
 * 'pending' for a deletion (the rewrite is queued, durably); for 'rewrite', the CID of the site's
 * manifest whose segments no longer hold the visitor's rows (sealed under a new site key, the
 * old segments unpinned; `rows` then counts the rows dropped from them), 'pending' until then,
 * or '' when this visitor never asked for a deletion.
 */
export type VisitorReceipt = {
  kind: VisitorAction
  site: string
  visitor: string
  key: string
  rows: number
  at: number
  request: string
  sealed: string
  segments: string
  worker: string
}

export function visitorReceiptText(r: VisitorReceipt): string {
  return VISITOR_RECEIPT_PREFIX + JSON.stringify({ kind: r.kind, site: r.site, visitor: r.visitor, key: r.key, rows: r.rows, at: r.at, request: r.request, sealed: r.sealed, segments: r.segments, worker: r.worker.toLowerCase() })
}

/** What the enclave answers: the receipt, its signature, and for an export the sealed rows (base64url). */
export type VisitorAnswer = { receipt: VisitorReceipt; signature: string; box?: { epk: string; iv: string; ct: string } }
