/**
 * One error base for the whole project (after viem's BaseError): a stable `code`
 * that scripts can match on, a short human message, optional details lines, and a
 * docs hint that tells the user where to read more / what to do.
 */
export type W3aErrorCode =
  // input
  | 'INVALID_ARGUMENT'
  | 'INPUT_UNREADABLE'
  | 'INPUT_MALFORMED'
  | 'COLUMN_TYPE_SUSPECT'
  | 'PRIVACY_UNIT_MISSING'
  // crypto
  | 'ENVELOPE_MALFORMED'
  | 'ENVELOPE_AUTH_FAILED'
  | 'ENVELOPE_TRUNCATED'
  | 'HPKE_OPEN_FAILED'
  | 'SIGNATURE_INVALID'
  | 'COMMAND_EXPIRED'
  // storage
  | 'BLOCK_NOT_FOUND'
  | 'BLOCK_HASH_MISMATCH'
  | 'CAR_MALFORMED'
  | 'MANIFEST_MALFORMED'
  | 'PEER_UNREACHABLE'
  | 'BODY_TOO_LARGE'
  | 'UPLOAD_UNAUTHORIZED'
  | 'UPLOAD_QUOTA_EXCEEDED'
  | 'UPLOAD_NOT_STORED'
  | 'WORKER_UNREACHABLE'
  // chain
  | 'CHAIN_UNREACHABLE'
  | 'TX_REVERTED'
  | 'CONTRACTS_NOT_DEPLOYED'
  | 'DATASET_NOT_FOUND'
  | 'DATASET_NOT_ACTIVE'
  | 'DATASET_NOT_LISTED'
  | 'POLICY_NOT_SET'
  | 'INSUFFICIENT_BALANCE'
  | 'NOTHING_TO_CLAIM'
  | 'JOB_NOT_FOUND'
  | 'NO_CREDITS'
  | 'NOT_ADMITTED'
  | 'STILL_ON_SALE'
  | 'JOB_PENDING'
  // federated campaigns (docs/campaigns.md)
  | 'CAMPAIGN_NOT_FOUND'
  | 'CAMPAIGN_CLOSED'
  | 'CAMPAIGN_PENDING'
  | 'ANSWER_REFUSED'
  | 'CAMPAIGN_NOT_COUNTED'
  | 'CONSENT_REFUSED'
  | 'CHAIN_ERROR' // any other RPC / transaction failure (nonce, gas, funds), with viem's message
  // tee
  | 'ATTESTATION_INVALID'
  | 'ATTESTATION_EXPIRED'
  | 'SIM_NOT_ALLOWED'
  | 'MEASUREMENT_NOT_ALLOWED'
  | 'REPORT_DATA_MISMATCH'
  | 'TCB_NOT_ALLOWED'
  | 'ATTESTATION_TOO_OLD'
  | 'KEY_NOT_ATTESTED'
  | 'UNSEAL_FAILED'
  | 'SEALING_UNAVAILABLE'
  | 'PLAINTEXT_MEMORY_UNAVAILABLE'
  | 'TEE_UNAVAILABLE'
  // custody
  | 'CUSTODY_OUT_OF_ORDER'
  | 'CUSTODY_MALFORMED'
  | 'EPOCH_REGRESSION'
  | 'HANDOVER_REFUSED'
  | 'HANDOVER_FAILED'
  | 'KEEPER_NOT_ADMITTED'
  | 'ACCESS_DENIED'
  | 'POLICY_INVALID'
  | 'STATE_NOT_FRESH'
  | 'STATE_ROLLED_BACK'
  | 'STATE_NOT_COMMITTED'
  // analysis
  | 'QUERY_REFUSED'
  | 'QUERY_FAILED'
  | 'BUDGET_EXHAUSTED'
  | 'ANALYSIS_MALFORMED'
  | 'JOB_FAILED'
  | 'JOB_TIMEOUT'
  | 'JOB_ALREADY_RUN'
  | 'REFUSAL_UNVERIFIED'
  | 'RESULT_INVALID'
  // web analytics ingest
  | 'INGEST_BUSY'
  | 'INGEST_LOG_BROKEN'
  | 'SITE_NOT_REGISTERED'
  | 'SITE_SETTINGS_OUTDATED'
  // node / cli
  | 'DATA_DIR_IN_USE'
  | 'GATEWAY_UNREACHABLE'
  | 'GATEWAY_ERROR'
  | 'NETWORK_NOT_PINNED'
  | 'NETWORK_MISMATCH'
  | 'ACCOUNT_MISSING'
  | 'NOT_OWNER'
  | 'KEEPER_UNAVAILABLE'
  | 'EPOCH_KEY_NOT_AGREED'
  | 'QUORUM_NOT_REACHED'
  | 'COMMAND_REFUSED'
  | 'CONFIRMATION_REQUIRED'
  | 'INTERNAL'

export type W3aErrorParameters = {
  /** Extra lines shown under the message (never secrets or plaintext). */
  details?: string[]
  /** Path under docs/ (e.g. `errors.md#tx_reverted`) that explains what to do. */
  docsPath?: string
  cause?: unknown
}

export class W3aError extends Error {
  override readonly name = 'W3aError'
  readonly code: W3aErrorCode
  readonly shortMessage: string
  readonly details: string[]
  readonly docsPath: string

  constructor(code: W3aErrorCode, shortMessage: string, params: W3aErrorParameters = {}) {
    const docsPath = params.docsPath ?? `errors.md#${code.toLowerCase()}`
    const lines = [shortMessage, ...(params.details ?? []).map((d) => `  ${d}`), `Docs: docs/${docsPath}`]
    super(lines.join('\n'), params.cause === undefined ? undefined : { cause: params.cause })
    this.code = code
    this.shortMessage = shortMessage
    this.details = params.details ?? []
    this.docsPath = docsPath
  }

  /** Plain JSON form for `--json` output and HTTP error bodies. */
  toJSON(): { error: { code: W3aErrorCode; message: string; details: string[]; docs: string } } {
    return { error: { code: this.code, message: this.shortMessage, details: this.details, docs: `docs/${this.docsPath}` } }
  }
}

export function isW3aError(e: unknown, code?: W3aErrorCode): e is W3aError {
  return e instanceof W3aError && (code === undefined || e.code === code)
}
