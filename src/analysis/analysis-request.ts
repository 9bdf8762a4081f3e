/**
 * What an analyst asks for, and how it travels. The request (SQL + the key the result is
 * encrypted to) and the privacy parameters are sealed with HPKE to the keepers' analysis key of
 * an epoch and stored as a raw IPFS block; the job on chain names that block's CID and commits
 * to both by hash:
 *
 *   analysisHash      = keccak256(utf8("w3a.analysis.v1\n" ‖ canonical JSON of the request))
 *   privacyParamsHash = keccak256(utf8("w3a.privacy.v1\n" ‖ canonical JSON of the privacy params))
 *   epsilonMicros     = ε × 10⁶ (the job posts it in clear so keepers charge it: custody/job-charge.ts)
 *
 * Sealed blob: "W3AQ" ‖ u8 version=1 ‖ u64 epoch (big-endian) ‖ enc (32) ‖ HPKE ciphertext of
 * JSON {request, privacy}; info "w3a/analysis/v1", aad = the 13 header bytes ‖ u64 chainId ‖
 * 20-byte Jobs address. The request includes the result key, so a worker host cannot swap in
 * its own key: the hash the analyst committed on chain would no longer match.
 */
import { encodeAbiParameters, hexToBytes, keccak256, stringToHex, type Address, type Hex } from 'viem'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { hpkeOpen, hpkeSeal } from '../crypto/hpke.js'
import { UnitOutputSchema } from './unit-function/output-type.js'

const MAGIC = new TextEncoder().encode('W3AQ')
const VERSION = 1
const HEADER = 13
const INFO = new TextEncoder().encode('w3a/analysis/v1')
/** δ of a DP release when the caller names none (privacy-gate.ts); in a job δ is the policy's, never the analyst's. */
export const DEFAULT_DELTA = 1e-7
export const MAX_DELTA = 1e-5

/** The longest query text the checker takes (characters); a sealed analysis stays one small IPFS block. */
export const MAX_SQL_CHARS = 20_000

const key32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be 32 bytes of 0x-hex').transform((s) => s.toLowerCase() as Hex)
const finite = z.number().refine(Number.isFinite, 'must be finite')

/** The longest per-unit function source (characters). */
export const MAX_FUNCTION_CHARS = 64 * 1024

const SqlRequestSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal('sql'),
  sql: z.string().min(1).max(MAX_SQL_CHARS),
  /** X25519 public key the result is sealed to (the analyst's wallet-derived key). */
  resultKey: key32,
})

/**
 * A per-unit function (src/analysis/unit-function/): JavaScript source evaluating to a function
 * of one privacy unit's rows, the declared type of its answer, how the answers are aggregated,
 * and an optional dimension column to group by. The source is sealed like SQL, and its
 * functionHash is what owners allow or deny in their policy.
 */
const FunctionRequestSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal('function'),
  source: z.string().min(1).max(MAX_FUNCTION_CHARS),
  output: UnitOutputSchema,
  aggregate: z.enum(['sum', 'mean', 'histogram']),
  groupBy: z.string().min(1).max(256).optional(),
  resultKey: key32,
})

export const AnalysisRequestSchema = z.union([SqlRequestSchema, FunctionRequestSchema]).superRefine((r, ctx) => {
  if (r.kind !== 'function') return
  const ok = r.output.kind === 'category' ? r.aggregate === 'histogram' : r.aggregate !== 'histogram'
  if (!ok) ctx.addIssue({ code: 'custom', path: ['aggregate'], message: r.output.kind === 'category' ? 'a category answer is counted: histogram' : `a ${r.output.kind} answer is summed or averaged: sum or mean` })
})
export type AnalysisRequest = z.infer<typeof AnalysisRequestSchema>
export type SqlAnalysisRequestBody = z.infer<typeof SqlRequestSchema>
export type FunctionAnalysisRequestBody = z.infer<typeof FunctionRequestSchema>

/**
 * What an owner allows or denies a function by (custody policy functionAllow / functionDeny):
 *   functionHash = keccak256(utf8("w3a.function.v1\n" ‖ source))   (the source exactly as sealed)
 */
export function functionHash(source: string): Hex {
  return keccak256(stringToHex(`w3a.function.v1\n${source}`))
}

export const PrivacyParamsSchema = z.strictObject({
  /** 0 = an exact answer (k-threshold only; only where the policy allows it). A multiple of 10⁻⁶. */
  epsilon: z
    .number()
    .min(0)
    .max(100)
    .refine((e) => Math.abs(e * 1e6 - Math.round(e * 1e6)) < 1e-6, 'must be a multiple of 0.000001'),
  /** Per-row clamp bounds per measure, inside the policy's (default: the policy's bounds). */
  bounds: z.record(z.string(), z.tuple([finite, finite])).optional(),
  contribution: z.strictObject({ maxRowsPerUnit: z.number().int().min(1).max(10_000), maxGroupsPerUnit: z.number().int().min(1).max(10_000) }).optional(),
})
export type PrivacyParams = z.infer<typeof PrivacyParamsSchema>

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value)
  if (!r.success) throw new W3aError('ANALYSIS_MALFORMED', `${what} is not valid`, { details: r.error.issues.map((i) => `${i.path.join('.') || what}: ${i.message}`) })
  return r.data
}

export function parseAnalysisRequest(value: unknown): AnalysisRequest {
  return parse(AnalysisRequestSchema, value, 'analysis request')
}

export function parsePrivacyParams(value: unknown): PrivacyParams {
  return parse(PrivacyParamsSchema, value, 'privacy parameters')
}

/** JSON with object keys sorted at every level and no whitespace. */
export function canonicalJson(v: unknown): string {
  const sort = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sort)
    if (x !== null && typeof x === 'object') return Object.fromEntries(Object.keys(x).sort().filter((k) => (x as Record<string, unknown>)[k] !== undefined).map((k) => [k, sort((x as Record<string, unknown>)[k])]))
    return typeof x === 'bigint' ? x.toString() : x
  }
  return JSON.stringify(sort(v))
}

export function analysisHash(request: AnalysisRequest): Hex {
  return keccak256(stringToHex(`w3a.analysis.v1\n${canonicalJson(parseAnalysisRequest(request))}`))
}

export function privacyParamsHash(privacy: PrivacyParams): Hex {
  return keccak256(stringToHex(`w3a.privacy.v1\n${canonicalJson(parsePrivacyParams(privacy))}`))
}

export function epsilonMicros(privacy: PrivacyParams): bigint {
  return BigInt(Math.round(privacy.epsilon * 1e6))
}

export type AnalysisDomain = { chainId: number; jobs: Address }

function header(epoch: bigint): Uint8Array {
  const h = new Uint8Array(HEADER)
  h.set(MAGIC)
  h[4] = VERSION
  new DataView(h.buffer).setBigUint64(5, epoch)
  return h
}

function aadOf(head: Uint8Array, domain: AnalysisDomain): Uint8Array {
  const aad = new Uint8Array(HEADER + 8 + 20)
  aad.set(head)
  new DataView(aad.buffer).setBigUint64(HEADER, BigInt(domain.chainId))
  aad.set(hexToBytes(domain.jobs), HEADER + 8)
  return aad
}

export async function sealAnalysis(p: AnalysisDomain & { analysisPublicKey: Uint8Array; epoch: bigint; request: AnalysisRequest; privacy: PrivacyParams }): Promise<Uint8Array> {
  const request = parseAnalysisRequest(p.request)
  const privacy = parsePrivacyParams(p.privacy)
  const head = header(p.epoch)
  const { enc, ciphertext } = await hpkeSeal({ recipientPublicKey: p.analysisPublicKey, info: INFO, aad: aadOf(head, p) }, new TextEncoder().encode(JSON.stringify({ request, privacy })))
  const out = new Uint8Array(HEADER + enc.length + ciphertext.length)
  out.set(head)
  out.set(enc, HEADER)
  out.set(ciphertext, HEADER + enc.length)
  return out
}

/** The epoch a sealed analysis names (so the opener picks the key); throws ANALYSIS_MALFORMED. */
export function sealedAnalysisEpoch(blob: Uint8Array): bigint {
  if (!(blob instanceof Uint8Array) || blob.length < HEADER + 32 + 16 || !MAGIC.every((b, i) => blob[i] === b) || blob[4] !== VERSION) {
    throw new W3aError('ANALYSIS_MALFORMED', 'not a sealed W3A analysis (bad magic, version or length)')
  }
  return new DataView(blob.buffer, blob.byteOffset, blob.byteLength).getBigUint64(5)
}

export async function openAnalysis(p: AnalysisDomain & { analysisPrivateKey: Uint8Array; blob: Uint8Array }): Promise<{ request: AnalysisRequest; privacy: PrivacyParams }> {
  sealedAnalysisEpoch(p.blob)
  const head = p.blob.subarray(0, HEADER)
  const pt = await hpkeOpen({ recipientPrivateKey: p.analysisPrivateKey, enc: p.blob.subarray(HEADER, HEADER + 32), info: INFO, aad: aadOf(head, p) }, p.blob.subarray(HEADER + 32))
  let json: { request?: unknown; privacy?: unknown }
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(pt)) as typeof json
  } catch {
    throw new W3aError('ANALYSIS_MALFORMED', 'sealed analysis does not hold JSON')
  }
  return { request: parseAnalysisRequest(json?.request), privacy: parsePrivacyParams(json?.privacy) }
}

/**
 * What a keeper signs (EIP-191) to vouch for an epoch's analysis key; clients check that the
 * signer is a registered, eligible keeper before sealing to it.
 *   keccak256(abi.encode("w3a.analysis-key.v1", chainId, registry, epoch, bytes32 publicKey))
 */
export function analysisKeyDigest(p: { chainId: number; registry: Address; epoch: bigint; publicKey: Hex }): Hex {
  return keccak256(
    encodeAbiParameters([{ type: 'string' }, { type: 'uint256' }, { type: 'address' }, { type: 'uint64' }, { type: 'bytes32' }], ['w3a.analysis-key.v1', BigInt(p.chainId), p.registry, p.epoch, p.publicKey]),
  )
}
