/**
 * A job's output and how it reaches the analyst.
 *
 *   outputHash = keccak256(utf8("w3a.output.v1\n" ‖ canonicalOutput(output)))
 *
 * canonicalOutput: JSON {"columns":[{"name","type"}…],"rows":[[…]…],"privacy":{…keys sorted}} with
 * no whitespace; bigint → decimal string; other non-JSON values (dates, decimals) → their string
 * form; a non-finite number is refused. The worker signs outputHash inside the Jobs contract's
 * resultDigest (src/chain/jobs.ts), so the privacy metadata is signed with the rows.
 *
 * The output is HPKE-sealed to the request's result key (info "w3a/result/v1", aad =
 * abi.encode(chainId, jobs, jobId, worker)); the envelope with the worker's signature is public.
 */
import { hexToBytes, keccak256, stringToHex, type Hex } from 'viem'
import { jobWorkerAad, type JobWorkerBinding } from '../chain/jobs.js'
import { W3aError } from '../core/errors.js'
import { hpkeOpen, hpkeSeal } from '../crypto/hpke.js'
import { canonicalJson } from './analysis-request.js'
import type { Mechanism } from './privacy-gate.js'

export type ReleasePrivacy = {
  k: number
  /** Rows dropped below k; null under DP (the number of groups present is itself data). */
  suppressed: number | null
  mechanism: Mechanism
  noiseScale: Record<string, number>
  epsilonSpent: number
  /** δ of a DP release; null without DP. */
  delta: number | null
  /** What the dataset's ε budget has left, all analysts together (custody's count after this job's charge). */
  epsilonLeft: number
  /** What is left of this analyst's share of it; null when the policy sets no per-analyst share. */
  analystEpsilonLeft: number | null
}

export type JobOutput = { columns: { name: string; type: string }[]; rows: unknown[][]; privacy: ReleasePrivacy }

const INFO = new TextEncoder().encode('w3a/result/v1')

function cell(v: unknown): unknown {
  if (v === null || v === undefined) return null
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new W3aError('INVALID_ARGUMENT', 'Output contains a non-finite number')
    return v
  }
  if (typeof v === 'string' || typeof v === 'boolean') return v
  return String(v)
}

/** The output with every cell in its canonical JSON form (what the analyst receives). */
export function normalizeOutput(out: JobOutput): JobOutput {
  return { columns: out.columns.map((c) => ({ name: c.name, type: c.type })), rows: out.rows.map((r) => r.map(cell)), privacy: out.privacy }
}

export function canonicalOutput(out: JobOutput): string {
  const n = normalizeOutput(out)
  return `{"columns":${JSON.stringify(n.columns)},"rows":${JSON.stringify(n.rows)},"privacy":${canonicalJson(n.privacy)}}`
}

export function outputHash(out: JobOutput): Hex {
  return keccak256(stringToHex(`w3a.output.v1\n${canonicalOutput(out)}`))
}

export type ResultAad = JobWorkerBinding
const aadOf = jobWorkerAad

/** Seals bytes (an output, or a failure's detail) to the analyst's result key. */
export async function sealToAnalyst(p: ResultAad & { resultKey: Hex }, plaintext: Uint8Array): Promise<{ enc: Uint8Array; ciphertext: Uint8Array }> {
  return hpkeSeal({ recipientPublicKey: hexToBytes(p.resultKey), info: INFO, aad: aadOf(p) }, plaintext)
}

export async function openAsAnalyst(p: ResultAad & { privateKey: Uint8Array; enc: Uint8Array; ciphertext: Uint8Array }): Promise<Uint8Array> {
  return hpkeOpen({ recipientPrivateKey: p.privateKey, enc: p.enc, info: INFO, aad: aadOf(p) }, p.ciphertext)
}

/** Parses an opened output and checks it against the hash the worker signed (RESULT_INVALID). */
export function parseOutput(bytes: Uint8Array, expectedHash: Hex): JobOutput {
  let out: JobOutput
  try {
    out = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as JobOutput
    if (!Array.isArray(out.columns) || !Array.isArray(out.rows) || typeof out.privacy !== 'object' || out.privacy === null) throw new Error('shape')
  } catch {
    throw new W3aError('RESULT_INVALID', 'The decrypted result is not a W3A job output')
  }
  if (outputHash(out).toLowerCase() !== expectedHash.toLowerCase()) {
    throw new W3aError('RESULT_INVALID', 'The decrypted result does not match the output hash the worker signed', { details: [`signed: ${expectedHash}`, `got: ${outputHash(out)}`] })
  }
  return out
}
