/**
 * The worker's identity, made inside the enclave: a secp256k1 key (its EVM address is the
 * worker id; it signs results, receipts, heartbeats) and an X25519 HPKE key pair (to receive
 * secrets). `exportIdentity` gives the secret bytes for sealing at rest — never anything else.
 *
 *   exported = "W3AI" ‖ u8 version=1 ‖ secp256k1 secret[32] ‖ X25519 secret[32] ‖ X25519 public[32]
 */
import { x25519 } from '@noble/curves/ed25519.js'
import { bytesToHex, hexToBytes, type Address, type Hex, type LocalAccount } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { W3aError } from '../core/errors.js'
import { generateHpkeKeyPair, type HpkeKeyPair } from '../crypto/hpke.js'
import { readQuoteFields } from './quote-format.js'
import { workerReportData } from './report-data.js'
import type { EnclaveBackend } from './types.js'

export type EnclaveIdentity = { signer: LocalAccount; hpke: HpkeKeyPair }

const MAGIC = Uint8Array.of(0x57, 0x33, 0x41, 0x49) // "W3AI"
const VERSION = 1
const EXPORT_SIZE = 5 + 32 * 3

// The signer's secret stays off the identity object (not enumerable, not in a stray JSON.stringify).
const signerSecrets = new WeakMap<LocalAccount, Uint8Array>()

export async function createEnclaveIdentity(): Promise<EnclaveIdentity> {
  return make(hexToBytes(generatePrivateKey()), await generateHpkeKeyPair())
}

export function exportIdentity(identity: EnclaveIdentity): Uint8Array {
  const sk = signerSecrets.get(identity.signer)
  if (!sk) throw new W3aError('INVALID_ARGUMENT', 'this identity was not made by createEnclaveIdentity/importIdentity: its signer key cannot be exported')
  const out = new Uint8Array(EXPORT_SIZE)
  out.set(MAGIC, 0)
  out[4] = VERSION
  out.set(sk, 5)
  out.set(identity.hpke.privateKey, 37)
  out.set(identity.hpke.publicKey, 69)
  return out
}

export function importIdentity(bytes: Uint8Array): EnclaveIdentity {
  if (!(bytes instanceof Uint8Array) || bytes.length !== EXPORT_SIZE || !MAGIC.every((b, i) => bytes[i] === b) || bytes[4] !== VERSION) {
    throw new W3aError('INPUT_MALFORMED', 'not an exported W3A enclave identity (bad magic, version or size)')
  }
  const hpke = { privateKey: bytes.slice(37, 69), publicKey: bytes.slice(69, 101) }
  // The public key is stored for readability; it must be the private key's, or the blob is corrupt.
  if (bytesToHex(x25519.getPublicKey(hpke.privateKey)) !== bytesToHex(hpke.publicKey)) {
    throw new W3aError('INPUT_MALFORMED', 'exported enclave identity is inconsistent (HPKE public key does not match its private key)')
  }
  return make(bytes.slice(5, 37), hpke)
}

export type Attestation = { quote: Uint8Array; reportData: Uint8Array; measurement: Hex }

/** Quotes the identity's keys for one chain and registry (report data of the custody protocol). */
export async function attestIdentity(p: { backend: EnclaveBackend; identity: EnclaveIdentity; chainId: number; registry: Address }): Promise<Attestation> {
  const reportData = workerReportData({ worker: p.identity.signer.address, hpkePublicKey: p.identity.hpke.publicKey, chainId: p.chainId, registry: p.registry })
  const quote = await p.backend.quote(reportData)
  const fields = readQuoteFields(quote)
  if (fields.reportData.toLowerCase() !== bytesToHex(reportData)) {
    throw new W3aError('REPORT_DATA_MISMATCH', `the ${p.backend.teeType} backend returned a quote that does not carry the requested report data`)
  }
  // The measurement a verifier will see is the one in the quote itself.
  return { quote, reportData, measurement: fields.measurement }
}

function make(secret: Uint8Array, hpke: HpkeKeyPair): EnclaveIdentity {
  let signer: LocalAccount
  try {
    signer = privateKeyToAccount(bytesToHex(secret))
  } catch (cause) {
    throw new W3aError('INPUT_MALFORMED', 'exported enclave identity holds an invalid secp256k1 key', { cause })
  }
  signerSecrets.set(signer, secret)
  return { signer, hpke }
}
