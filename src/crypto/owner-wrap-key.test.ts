import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { hkdfSync } from 'node:crypto'
import type { Hex, LocalAccount } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { generateDatasetKey } from './envelope.js'
import { deriveHpkeKeyPair, generateHpkeKeyPair } from './hpke.js'
import {
  OWNER_WRAP_KEY_PURPOSE,
  deriveOwnerWrapKey,
  deriveOwnerWrapKeyFromSignature,
  ownerWrapKeyTypedData,
  unwrapDatasetKey,
  wrapDatasetKey,
} from './owner-wrap-key.js'

// Anvil/Hardhat dev account 0: a published test key, never a real one.
const devAccount = privateKeyToAccount('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80')
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const idA: Hex = `0x${'0a'.repeat(32)}`
const idB: Hex = `0x${'0b'.repeat(32)}`

describe('owner wrap key: derivation', () => {
  it('is deterministic across calls', async () => {
    const account = privateKeyToAccount(generatePrivateKey())
    const a = await deriveOwnerWrapKey({ account, chainId: 31337 })
    const b = await deriveOwnerWrapKey({ account, chainId: 31337 })
    assert.deepEqual(a, b)
    assert.equal(a.publicKey.length, 32)
    assert.equal(a.privateKey.length, 32)
  })

  it('differs per account and per chain', async () => {
    const other = privateKeyToAccount(generatePrivateKey())
    const base = hex((await deriveOwnerWrapKey({ account: devAccount, chainId: 31337 })).publicKey)
    assert.notEqual(hex((await deriveOwnerWrapKey({ account: other, chainId: 31337 })).publicKey), base)
    assert.notEqual(hex((await deriveOwnerWrapKey({ account: devAccount, chainId: 1 })).publicKey), base)
  })

  it('follows the documented recipe, and is pinned so a refactor cannot strand existing wraps', async () => {
    const typedData = ownerWrapKeyTypedData(31337)
    assert.deepEqual(typedData, {
      domain: { name: 'W3A Key Wrap', version: '1', chainId: 31337 },
      types: { KeyWrap: [{ name: 'purpose', type: 'string' }] },
      primaryType: 'KeyWrap',
      message: { purpose: 'Derive my W3A dataset key-wrapping key. Sign only on a W3A app.' },
    })
    assert.equal(OWNER_WRAP_KEY_PURPOSE, typedData.message.purpose)
    // Recomputed by hand: signature -> HKDF-SHA256(info "w3a/owner-wrap-key/v1") -> DeriveKeyPair.
    const sig = await devAccount.signTypedData(typedData)
    const ikm = new Uint8Array(hkdfSync('sha256', Buffer.from(sig.slice(2), 'hex'), new Uint8Array(0), 'w3a/owner-wrap-key/v1', 32))
    const byHand = await deriveHpkeKeyPair(ikm)
    const derived = await deriveOwnerWrapKey({ account: devAccount, chainId: 31337 })
    assert.deepEqual(derived, byHand)
    // Pinned output for the dev account on chain 31337 (recorded from this implementation).
    assert.equal(hex(derived.publicKey), '28704a6cc38fbb3b2b69745ed15cef179e950d93d43bde65dcad5a07ee59290b')
  })

  it('gives the same key whether the wallet sends v as 27/28 or 0/1', async () => {
    const sig = await devAccount.signTypedData(ownerWrapKeyTypedData(5))
    const v = parseInt(sig.slice(-2), 16)
    const low = `${sig.slice(0, -2)}0${v - 27}` as Hex
    assert.deepEqual(await deriveOwnerWrapKeyFromSignature(low), await deriveOwnerWrapKeyFromSignature(sig))
  })

  it('refuses a signer that is not deterministic', async () => {
    let n = 0
    const flaky = {
      ...devAccount,
      signTypedData: async () => `0x${'11'.repeat(64)}${(n++).toString(16).padStart(2, '0')}` as Hex,
    } as unknown as LocalAccount
    await assert.rejects(deriveOwnerWrapKey({ account: flaky, chainId: 1 }), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
  })

  it('refuses malformed signatures and chain ids', async () => {
    const bad = (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT')
    await assert.rejects(deriveOwnerWrapKeyFromSignature('0x1234'), bad)
    await assert.rejects(deriveOwnerWrapKey({ account: devAccount, chainId: 0 }), bad)
  })
})

describe('owner wrap key: wrapping dataset keys', () => {
  it('round trips a dataset key', async () => {
    const kp = await deriveOwnerWrapKey({ account: devAccount, chainId: 31337 })
    const dek = generateDatasetKey()
    const w = await wrapDatasetKey({ recipientPublicKey: kp.publicKey, datasetId: idA, dek })
    assert.deepEqual(await unwrapDatasetKey({ recipientPrivateKey: kp.privateKey, datasetId: idA, ...w }), dek)
  })

  it('a wrap moved to another dataset id, or opened with another key, fails', async () => {
    const kp = await deriveOwnerWrapKey({ account: devAccount, chainId: 31337 })
    const w = await wrapDatasetKey({ recipientPublicKey: kp.publicKey, datasetId: idA, dek: generateDatasetKey() })
    const failed = (e: unknown) => isW3aError(e, 'HPKE_OPEN_FAILED')
    await assert.rejects(unwrapDatasetKey({ recipientPrivateKey: kp.privateKey, datasetId: idB, ...w }), failed)
    const stranger = await generateHpkeKeyPair()
    await assert.rejects(unwrapDatasetKey({ recipientPrivateKey: stranger.privateKey, datasetId: idA, ...w }), failed)
  })

  it('refuses keys that are not 32 bytes and bad dataset ids', async () => {
    const kp = await generateHpkeKeyPair()
    const bad = (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT')
    await assert.rejects(wrapDatasetKey({ recipientPublicKey: kp.publicKey, datasetId: idA, dek: new Uint8Array(16) }), bad)
    await assert.rejects(wrapDatasetKey({ recipientPublicKey: kp.publicKey, datasetId: '0xabcd', dek: generateDatasetKey() }), bad)
  })
})
