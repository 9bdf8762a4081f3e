import { W3aError, type W3aErrorCode } from '../core/errors.js'
import { toJsonText } from '../core/json-text.js'

export function json(value: unknown, status = 200): Response {
  return new Response(toJsonText(value), { status, headers: { 'content-type': 'application/json; charset=utf-8' } })
}

const STATUS_OF: Partial<Record<W3aErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  CAR_MALFORMED: 400,
  MANIFEST_MALFORMED: 422,
  BLOCK_HASH_MISMATCH: 422,
  BLOCK_NOT_FOUND: 404,
  DATASET_NOT_FOUND: 404,
  CHAIN_UNREACHABLE: 502,
  CONTRACTS_NOT_DEPLOYED: 503,
  PEER_UNREACHABLE: 502,
  INGEST_BUSY: 429,
  BODY_TOO_LARGE: 413,
  UPLOAD_UNAUTHORIZED: 401,
  UPLOAD_QUOTA_EXCEEDED: 429,
  UPLOAD_NOT_STORED: 422,
  SITE_NOT_REGISTERED: 404,
  SITE_SETTINGS_OUTDATED: 409,
  SIGNATURE_INVALID: 403,
  ACCESS_DENIED: 403,
}

/** Every API error body is `{ error: { code, message, details, docs } }` (see docs/errors.md). */
export function errorResponse(e: unknown): Response {
  const err = e instanceof W3aError ? e : new W3aError('INTERNAL', 'internal error')
  return json(err.toJSON(), errorStatus(err))
}

/** The HTTP status an error answers with. */
export function errorStatus(err: W3aError): number {
  return STATUS_OF[err.code] ?? 500
}
