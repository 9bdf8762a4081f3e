/**
 * Simulated TEE quotes: their format and their verification, with no Node built-in so that
 * verifiers (the SDK in a browser too) can check them. The backend that makes them is sim.ts.
 *
 * Quote layout (169 bytes, docs/design/custody-protocol.md):
 *   "W3AQ" ‖ u8 version=1 ‖ u8 tee=0 ‖ 2 zero bytes ‖ measurement[32] ‖ reportData[64] ‖ signature[65] (r‖s‖v)
 *   signature = dev key over toEthSignedMessageHash(keccak256(abi.encodePacked("W3A-SIM-QUOTE-v1", measurement, reportData)))
 */
import { bytesToHex, encodePacked, hexToBytes, isAddressEqual, keccak256, recoverMessageAddress, stringToBytes, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { W3aError } from '../core/errors.js'
import type { TeePolicy, VerifiedQuote } from './types.js'

/** Printed by the worker, loudly, whenever it runs on the sim backend. */
export const SIM_WARNING =
  'SIMULATED TEE — NOT SECURE — dev networks only. The dev attestation key is public and the host can read enclave memory: never put real data on this worker.'

/** Published on purpose: derived from a fixed phrase so anyone can check it is the insecure dev key. */
export const DEV_ATTESTATION_PRIVATE_KEY: Hex = keccak256(stringToBytes('w3a dev attestation key — insecure, public'))
export const DEV_ATTESTATION_SIGNER: Address = privateKeyToAccount(DEV_ATTESTATION_PRIVATE_KEY).address

export const SIM_QUOTE_MAGIC = Uint8Array.of(0x57, 0x33, 0x41, 0x51) // "W3AQ"
export const SIM_QUOTE_VERSION = 1
export const SIM_QUOTE_SIZE = 169
export const SIM_TCB_STATUS = 'Simulated'

/** Layout offsets, shared with the backend that writes quotes (sim.ts). */
export const TEE_SIM = 0
export const MEASUREMENT_OFFSET = 8
export const REPORT_DATA_OFFSET = 40
export const SIGNATURE_OFFSET = 104
const SIGNATURE_SIZE = 65
const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n

export type SimQuote = { version: number; measurement: Hex; reportData: Hex; signature: Hex }

/** keccak256(abi.encodePacked("W3A-SIM-QUOTE-v1", measurement, reportData)); signed as an EIP-191 message. */
export function simQuoteDigest(measurement: Hex, reportData: Hex): Hex {
  return keccak256(encodePacked(['string', 'bytes32', 'bytes'], ['W3A-SIM-QUOTE-v1', measurement, reportData]))
}

/** Parses the layout only (no signature check). */
export function parseSimQuote(bytes: Uint8Array): SimQuote {
  if (!(bytes instanceof Uint8Array) || bytes.length !== SIM_QUOTE_SIZE) {
    throw invalid(`a sim quote is ${SIM_QUOTE_SIZE} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`)
  }
  if (!SIM_QUOTE_MAGIC.every((b, i) => bytes[i] === b)) throw invalid('not a sim quote (magic "W3AQ" missing)')
  if (bytes[4] !== SIM_QUOTE_VERSION) throw invalid(`unsupported sim quote version ${bytes[4]}`)
  if (bytes[5] !== TEE_SIM || bytes[6] !== 0 || bytes[7] !== 0) throw invalid('sim quote header has non-zero tee/reserved bytes')
  return {
    version: bytes[4],
    measurement: bytesToHex(bytes.subarray(MEASUREMENT_OFFSET, REPORT_DATA_OFFSET)),
    reportData: bytesToHex(bytes.subarray(REPORT_DATA_OFFSET, SIGNATURE_OFFSET)),
    signature: bytesToHex(bytes.subarray(SIGNATURE_OFFSET, SIGNATURE_OFFSET + SIGNATURE_SIZE)),
  }
}

/** Verifies a sim quote; refused outright unless the policy allows sim (dev networks). */
export async function verifySimQuote(bytes: Uint8Array, policy: TeePolicy): Promise<VerifiedQuote> {
  if (policy.allowSim !== true) {
    throw new W3aError('SIM_NOT_ALLOWED', 'refused a simulated (sim) quote: this network does not accept the simulated TEE', {
      details: ['Production networks never accept sim quotes: their signing key is public, so they prove nothing.'],
    })
  }
  const q = parseSimQuote(bytes)
  const sig = hexToBytes(q.signature)
  // Canonical signatures only (low s, v 27/28, as OpenZeppelin ECDSA on chain), so a quote has one encoding.
  const s = BigInt(bytesToHex(sig.subarray(32, 64)))
  if (s === 0n || s > SECP256K1_HALF_N || (sig[64] !== 27 && sig[64] !== 28)) throw invalid('sim quote signature is not canonical (high s or bad v)')
  let recovered: Address
  try {
    recovered = await recoverMessageAddress({ message: { raw: simQuoteDigest(q.measurement, q.reportData) }, signature: q.signature })
  } catch (cause) {
    throw invalid('sim quote signature does not recover to any key', cause)
  }
  const expected = policy.devAttestationSigner ?? DEV_ATTESTATION_SIGNER
  if (!isAddressEqual(recovered, expected)) {
    throw invalid('sim quote is not signed by the dev attestation key this network trusts', undefined, [`signed by ${recovered}`, `expected  ${expected}`])
  }
  return { teeType: 'sim', measurement: q.measurement, reportData: q.reportData, tcbStatus: SIM_TCB_STATUS, advisoryIds: [], verifiedAt: policy.now ?? Math.floor(Date.now() / 1000), quoteHash: keccak256(bytes) }
}

function invalid(message: string, cause?: unknown, details?: string[]): W3aError {
  return new W3aError('ATTESTATION_INVALID', message, { ...(cause === undefined ? {} : { cause }), ...(details ? { details } : {}) })
}
