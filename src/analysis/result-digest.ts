/**
 * What a worker signs for a result. Everything is hashed to bytes32 first so the jobs contract
 * can recompute the digest cheaply:
 *
 *   analysisHash   = keccak256(utf8("w3a.analysis.sql.v1\n" ‖ sql))
 *   outputHash     = keccak256(utf8("w3a.output.v1\n" ‖ canonicalOutput(result)))
 *   inputCidsHash  = keccak256(abi.encode(string[] cids))        (cids as given, in order)
 *   privacyHash    = keccak256(utf8("w3a.privacy.v1\n" ‖ JSON of the privacy params, keys sorted))
 *   resultDigest   = keccak256(abi.encode(uint256 jobId, bytes32 inputCidsHash,
 *                        bytes32 analysisHash, bytes32 outputHash, bytes32 privacyHash))
 *
 * canonicalOutput: JSON {"columns":[{"name","type"}…],"rows":[[…]…]} with no whitespace;
 * bigint → decimal string, non-finite numbers → null is refused (INVALID_ARGUMENT), other
 * values as JSON.stringify writes them (Dates/DuckDB values → their string form).
 */
import { encodeAbiParameters, keccak256, stringToHex, type Hex } from 'viem'
import { W3aError } from '../core/errors.js'

export type ReleasedOutput = { columns: { name: string; type: string }[]; rows: unknown[][] }

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

export function canonicalOutput(out: ReleasedOutput): string {
  return JSON.stringify({ columns: out.columns.map((c) => ({ name: c.name, type: c.type })), rows: out.rows.map((r) => r.map(cell)) })
}

export function outputHash(out: ReleasedOutput): Hex {
  return keccak256(stringToHex(`w3a.output.v1\n${canonicalOutput(out)}`))
}

export function analysisHash(sql: string): Hex {
  return keccak256(stringToHex(`w3a.analysis.sql.v1\n${sql}`))
}

export function inputCidsHash(cids: readonly string[]): Hex {
  return keccak256(encodeAbiParameters([{ type: 'string[]' }], [[...cids]]))
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]))
  return typeof v === 'bigint' ? v.toString() : v
}

export function privacyParamsHash(params: Record<string, unknown>): Hex {
  return keccak256(stringToHex(`w3a.privacy.v1\n${JSON.stringify(sortKeys(params))}`))
}

export function resultDigest(r: { jobId: bigint; inputCids: readonly string[]; sql: string; output: ReleasedOutput; privacy: Record<string, unknown> }): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'uint256' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }],
      [r.jobId, inputCidsHash(r.inputCids), analysisHash(r.sql), outputHash(r.output), privacyParamsHash(r.privacy)],
    ),
  )
}
