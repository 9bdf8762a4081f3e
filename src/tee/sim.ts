/**
 * The simulated TEE (dev networks only). It protects nothing: the host can read the
 * "enclave" process's memory, and the dev attestation key below is public, so anyone can
 * make a quote for any measurement. Its only purpose is to exercise the same code paths as
 * a real TEE (report data, allow-lists, sealing) on a machine without one.
 *
 * Quote layout (169 bytes, docs/design/custody-protocol.md):
 *   "W3AQ" ‖ u8 version=1 ‖ u8 tee=0 ‖ 2 zero bytes ‖ measurement[32] ‖ reportData[64] ‖ signature[65] (r‖s‖v)
 *   signature = dev key over toEthSignedMessageHash(keccak256(abi.encodePacked("W3A-SIM-QUOTE-v1", measurement, reportData)))
 */
import { hkdfSync, randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { bytesToHex, encodePacked, hexToBytes, isAddressEqual, keccak256, recoverMessageAddress, stringToBytes, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { W3aError } from '../core/errors.js'
import { REPORT_DATA_SIZE, type EnclaveBackend, type TeePolicy, type VerifiedQuote } from './types.js'

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

const TEE_SIM = 0
const MEASUREMENT_OFFSET = 8
const REPORT_DATA_OFFSET = 40
const SIGNATURE_OFFSET = 104
const SIGNATURE_SIZE = 65
const SEAL_INFO = 'w3a/seal/v1'
const PLATFORM_SECRET_SIZE = 32
const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n

export type SimQuote = { version: number; measurement: Hex; reportData: Hex; signature: Hex }

/** keccak256(abi.encodePacked("W3A-SIM-QUOTE-v1", measurement, reportData)); signed as an EIP-191 message. */
export function simQuoteDigest(measurement: Hex, reportData: Hex): Hex {
  return keccak256(encodePacked(['string', 'bytes32', 'bytes'], ['W3A-SIM-QUOTE-v1', measurement, reportData]))
}

export function createSimEnclave(params: { measurement: Hex; platformSecretFile: string; attestationPrivateKey?: Hex }): EnclaveBackend {
  const measurement = checkBytes32(params.measurement, 'measurement')
  const signer = privateKeyToAccount(params.attestationPrivateKey ?? DEV_ATTESTATION_PRIVATE_KEY)
  let key: Uint8Array | undefined
  return {
    teeType: 'sim',
    insecure: true,
    async measurement() {
      return measurement
    },
    async quote(reportData) {
      if (!(reportData instanceof Uint8Array) || reportData.length !== REPORT_DATA_SIZE) {
        throw new W3aError('INVALID_ARGUMENT', `report data must be ${REPORT_DATA_SIZE} bytes`)
      }
      const rd = bytesToHex(reportData)
      const signature = await signer.signMessage({ message: { raw: simQuoteDigest(measurement, rd) } })
      const q = new Uint8Array(SIM_QUOTE_SIZE)
      q.set(SIM_QUOTE_MAGIC, 0)
      q[4] = SIM_QUOTE_VERSION
      q[5] = TEE_SIM
      q.set(hexToBytes(measurement), MEASUREMENT_OFFSET)
      q.set(reportData, REPORT_DATA_OFFSET)
      q.set(hexToBytes(signature), SIGNATURE_OFFSET)
      return q
    },
    async sealingKey() {
      // The platform secret stands in for the CPU's fused key; the measurement as salt means
      // other code on the same machine derives another key and cannot unseal this code's data.
      key ??= new Uint8Array(hkdfSync('sha256', loadPlatformSecret(params.platformSecretFile), hexToBytes(measurement), SEAL_INFO, 32))
      return key.slice()
    },
  }
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
  return { teeType: 'sim', measurement: q.measurement, reportData: q.reportData, tcbStatus: SIM_TCB_STATUS, advisoryIds: [], quoteHash: keccak256(bytes) }
}

/** Reads the simulated platform secret, creating it (32 random bytes, mode 0600) on first use. */
function loadPlatformSecret(file: string): Uint8Array {
  let secret: Uint8Array
  try {
    secret = readFileSync(file)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new W3aError('INPUT_UNREADABLE', `cannot read the sim platform secret ${file}`, { cause: e })
    createOnce(file, randomBytes(PLATFORM_SECRET_SIZE))
    secret = readFileSync(file)
  }
  if (secret.length !== PLATFORM_SECRET_SIZE) {
    throw new W3aError('INPUT_MALFORMED', `the sim platform secret ${file} is not ${PLATFORM_SECRET_SIZE} bytes`, {
      details: ['It was altered or truncated; data sealed under it cannot be unsealed any more.'],
    })
  }
  return secret
}

/** Complete file or nothing: written aside, then hard-linked into place (fails if another process won the race). */
function createOnce(file: string, data: Uint8Array): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`
  const fd = openSync(tmp, 'wx', 0o600)
  try {
    writeSync(fd, data)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  try {
    linkSync(tmp, file)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
  } finally {
    unlinkSync(tmp)
  }
}

function checkBytes32(v: Hex, what: string): Hex {
  if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(v)) throw new W3aError('INVALID_ARGUMENT', `${what} must be 0x followed by 64 hex digits`)
  return v.toLowerCase() as Hex
}

function invalid(message: string, cause?: unknown, details?: string[]): W3aError {
  return new W3aError('ATTESTATION_INVALID', message, { ...(cause === undefined ? {} : { cause }), ...(details ? { details } : {}) })
}
