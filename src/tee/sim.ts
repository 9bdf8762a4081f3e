/**
 * The simulated TEE backend (dev networks only). It protects nothing: the host can read the
 * "enclave" process's memory, and the dev attestation key is public, so anyone can make a
 * quote for any measurement. Its only purpose is to exercise the same code paths as a real
 * TEE (report data, allow-lists, sealing) on a machine without one. The quote format and its
 * verification are in sim-quote.ts.
 */
import { hkdfSync, randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { bytesToHex, hexToBytes, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { W3aError } from '../core/errors.js'
import { REPORT_DATA_SIZE, type EnclaveBackend } from './types.js'
import {
  DEV_ATTESTATION_PRIVATE_KEY,
  MEASUREMENT_OFFSET,
  REPORT_DATA_OFFSET,
  SIGNATURE_OFFSET,
  SIM_QUOTE_MAGIC,
  SIM_QUOTE_SIZE,
  SIM_QUOTE_VERSION,
  TEE_SIM,
  simQuoteDigest,
} from './sim-quote.js'

export {
  SIM_WARNING,
  DEV_ATTESTATION_PRIVATE_KEY,
  DEV_ATTESTATION_SIGNER,
  SIM_QUOTE_MAGIC,
  SIM_QUOTE_VERSION,
  SIM_QUOTE_SIZE,
  SIM_TCB_STATUS,
  simQuoteDigest,
  parseSimQuote,
  verifySimQuote,
  type SimQuote,
} from './sim-quote.js'

const SEAL_INFO = 'w3a/seal/v1'
const PLATFORM_SECRET_SIZE = 32

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
