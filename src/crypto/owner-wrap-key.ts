/**
 * The owner's personal key-wrapping key: an HPKE key pair derived from the owner's wallet
 * signature over a fixed EIP-712 message, so the owner can unwrap their dataset keys on
 * any machine with only their wallet.
 *
 *   signature = sign_EIP712({ name: 'W3A Key Wrap', version: '1', chainId }, KeyWrap { purpose })
 *   ikm       = HKDF-SHA256(IKM = r || s || v (65 bytes, v in {27, 28}), salt = "", info = "w3a/owner-wrap-key/v1", L = 32)
 *   key pair  = RFC 9180 DeriveKeyPair(ikm)                       (DHKEM(X25519, HKDF-SHA256))
 *
 * This relies on the signer being deterministic (RFC 6979): viem local accounts, hardware
 * wallets and common browser wallets are. A signer that adds randomness would give a new
 * key every time, so `deriveOwnerWrapKey` signs twice and refuses if the two differ; with
 * a browser wallet, compare the derived public key with the one recorded in a manifest.
 */
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { hexToBytes, isHex, type Hex, type LocalAccount } from 'viem'
import { W3aError } from '../core/errors.js'
import { deriveHpkeKeyPair, hpkeOpen, hpkeSeal, type HpkeKeyPair } from './hpke.js'

export const OWNER_WRAP_KEY_PURPOSE = 'Derive my W3A dataset key-wrapping key. Sign only on a W3A app.'
const DERIVE_INFO = new TextEncoder().encode('w3a/owner-wrap-key/v1')
const WRAP_INFO = new TextEncoder().encode('w3a/dek-wrap/v1')
const DATASET_ID_RE = /^0x[0-9a-fA-F]{64}$/

/** The typed data the owner signs (hand it to a browser wallet's eth_signTypedData_v4). */
export function ownerWrapKeyTypedData(chainId: number) {
  return walletKeyTypedData(chainId, OWNER_WRAP_KEY_PURPOSE)
}

/**
 * The typed data behind every wallet-derived W3A key: one purpose string per key, so each
 * purpose gets its own signature and so an independent key.
 */
export function walletKeyTypedData<P extends string>(chainId: number, purpose: P) {
  if (!Number.isSafeInteger(chainId) || chainId <= 0) throw new W3aError('INVALID_ARGUMENT', 'chainId must be a positive integer')
  return {
    domain: { name: 'W3A Key Wrap', version: '1', chainId },
    types: { KeyWrap: [{ name: 'purpose', type: 'string' }] },
    primaryType: 'KeyWrap',
    message: { purpose },
  } as const
}

/** Derives the wrap key from a signature over `ownerWrapKeyTypedData(chainId)`. */
export async function deriveOwnerWrapKeyFromSignature(signature: Hex): Promise<HpkeKeyPair> {
  return walletKeyFromSignature(signature, DERIVE_INFO)
}

/** HKDF(signature, info) → RFC 9180 DeriveKeyPair: the key of one purpose's signature. */
export async function walletKeyFromSignature(signature: Hex, info: Uint8Array): Promise<HpkeKeyPair> {
  if (typeof signature !== 'string' || !isHex(signature) || signature.length !== 2 + 65 * 2) {
    throw new W3aError('INVALID_ARGUMENT', 'key-wrap signature must be 65 bytes (r || s || v)')
  }
  const sig = hexToBytes(signature)
  // Wallets send v as 27/28 or as 0/1; both must give the same key.
  if (sig[64]! < 27) sig[64] = sig[64]! + 27
  return deriveHpkeKeyPair(hkdf(sha256, sig, undefined, info, 32))
}

export async function deriveOwnerWrapKey(params: { account: LocalAccount; chainId: number }): Promise<HpkeKeyPair> {
  return deriveWalletKey({ ...params, purpose: OWNER_WRAP_KEY_PURPOSE, info: DERIVE_INFO })
}

/** Signs the purpose's typed data twice (refusing a non-deterministic signer) and derives its key. */
export async function deriveWalletKey(params: { account: LocalAccount; chainId: number; purpose: string; info: Uint8Array }): Promise<HpkeKeyPair> {
  const typedData = walletKeyTypedData(params.chainId, params.purpose)
  const a = await params.account.signTypedData(typedData)
  const b = await params.account.signTypedData(typedData)
  if (a !== b) {
    throw new W3aError('INVALID_ARGUMENT', 'This account signs non-deterministically, so it cannot derive a stable key-wrapping key', {
      details: ['viem: do not call setSignEntropy() in processes that derive wrap keys'],
    })
  }
  return walletKeyFromSignature(a, params.info)
}

/** Seals a 32-byte dataset key to `recipientPublicKey`; the wrap is bound to `datasetId`. */
export async function wrapDatasetKey(params: { recipientPublicKey: Uint8Array; datasetId: `0x${string}`; dek: Uint8Array }): Promise<{ enc: Uint8Array; ciphertext: Uint8Array }> {
  if (!(params.dek instanceof Uint8Array) || params.dek.length !== 32) throw new W3aError('INVALID_ARGUMENT', 'dataset key must be 32 bytes')
  return hpkeSeal({ recipientPublicKey: params.recipientPublicKey, info: WRAP_INFO, aad: datasetIdBytes(params.datasetId) }, params.dek)
}

/** Opens a wrap made by `wrapDatasetKey` for the same `datasetId`; anything else is HPKE_OPEN_FAILED. */
export async function unwrapDatasetKey(params: { recipientPrivateKey: Uint8Array; datasetId: `0x${string}`; enc: Uint8Array; ciphertext: Uint8Array }): Promise<Uint8Array> {
  const dek = await hpkeOpen({ recipientPrivateKey: params.recipientPrivateKey, enc: params.enc, info: WRAP_INFO, aad: datasetIdBytes(params.datasetId) }, params.ciphertext)
  if (dek.length !== 32) throw new W3aError('HPKE_OPEN_FAILED', 'Unwrapped dataset key is not 32 bytes')
  return dek
}

// The AAD is the raw 32 bytes, so a wrap moved to another dataset's manifest fails to open.
function datasetIdBytes(datasetId: string): Uint8Array {
  if (typeof datasetId !== 'string' || !DATASET_ID_RE.test(datasetId)) throw new W3aError('INVALID_ARGUMENT', 'datasetId must be 0x-prefixed bytes32 hex')
  return hexToBytes(datasetId as Hex)
}
