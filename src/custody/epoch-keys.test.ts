import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { hkdfSync } from 'node:crypto'
import { isW3aError } from '../core/errors.js'
import { deriveHpkeKeyPair, hpkeOpen, hpkeSeal } from '../crypto/hpke.js'
import { EpochKeyring, createInitialSecret, epochKeyPair, nextEpochSecret } from './epoch-keys.js'
import { containsBytes, testBytes } from './fixture.test.js'

// An independent implementation of the protocol's HKDF steps (node:crypto, not @noble).
const hkdf = (ikm: Uint8Array, info: string) => new Uint8Array(hkdfSync('sha256', ikm, new Uint8Array(0), info, 32))

describe('epoch keys', () => {
  it('ratchet and key derivation follow the protocol (checked against node:crypto HKDF)', async () => {
    const s0 = testBytes('s0')
    assert.deepEqual(nextEpochSecret(s0), hkdf(s0, 'w3a/epoch/ratchet'))
    const pair = await epochKeyPair(s0)
    assert.deepEqual(pair, await deriveHpkeKeyPair(hkdf(s0, 'w3a/epoch/hpke')))
    assert.notDeepEqual(nextEpochSecret(s0), s0)
    assert.notDeepEqual((await epochKeyPair(nextEpochSecret(s0))).publicKey, pair.publicKey)
  })

  it('createInitialSecret gives fresh 32-byte secrets', () => {
    const a = createInitialSecret()
    assert.equal(a.length, 32)
    assert.notDeepEqual(a, createInitialSecret())
  })

  it('advanceTo ratchets forward; the keyring holds exactly S_e', async () => {
    const s0 = testBytes('s0')
    const ring = new EpochKeyring(0n, s0)
    ring.advanceTo(3n)
    assert.equal(ring.epoch, 3n)
    const s3 = nextEpochSecret(nextEpochSecret(nextEpochSecret(s0)))
    assert.deepEqual((await ring.keyPair()).publicKey, (await epochKeyPair(s3)).publicKey)
    assert.deepEqual(ring.export().subarray(13), s3)
  })

  it('cannot go backwards, and the old secrets are gone from what it holds', async () => {
    const s0 = testBytes('s0')
    const s1 = nextEpochSecret(s0)
    const ring = new EpochKeyring(0n, s0)
    const oldPair = await ring.keyPair()
    ring.advanceTo(2n)
    assert.throws(() => ring.advanceTo(1n), (e: unknown) => isW3aError(e, 'EPOCH_REGRESSION'))
    assert.throws(() => ring.advanceTo(0n), (e: unknown) => isW3aError(e, 'EPOCH_REGRESSION'))
    assert.equal(ring.epoch, 2n)
    ring.advanceTo(2n) // same epoch: no-op
    assert.equal(ring.epoch, 2n)
    const exported = ring.export()
    for (const old of [s0, s1, oldPair.privateKey]) assert.equal(containsBytes(exported, old), false)
    // A ciphertext to epoch 0 no longer opens with anything the keyring gives out.
    const { enc, ciphertext } = await hpkeSeal({ recipientPublicKey: oldPair.publicKey }, new Uint8Array([1, 2, 3]))
    await assert.rejects(ring.open({ enc, info: new Uint8Array(0), aad: new Uint8Array(0) }, ciphertext), (e: unknown) => isW3aError(e, 'HPKE_OPEN_FAILED'))
    await assert.rejects(hpkeOpen({ recipientPrivateKey: (await ring.keyPair()).privateKey, enc }, ciphertext), (e: unknown) => isW3aError(e, 'HPKE_OPEN_FAILED'))
  })

  it('open() uses the current epoch key, and stops opening the old one after advancing', async () => {
    const ring = new EpochKeyring(5n, testBytes('s5'))
    const pub = await ring.publicKey()
    const sealed = await hpkeSeal({ recipientPublicKey: pub, info: new Uint8Array([9]), aad: new Uint8Array([7]) }, new Uint8Array([42]))
    assert.deepEqual(await ring.open({ enc: sealed.enc, info: new Uint8Array([9]), aad: new Uint8Array([7]) }, sealed.ciphertext), new Uint8Array([42]))
    ring.advanceTo(6n)
    await assert.rejects(ring.open({ enc: sealed.enc, info: new Uint8Array([9]), aad: new Uint8Array([7]) }, sealed.ciphertext), (e: unknown) => isW3aError(e, 'HPKE_OPEN_FAILED'))
  })

  it('opens exactly what the portable suite opens; low-order encapsulations are refused', async () => {
    const ring = new EpochKeyring(0n, testBytes('lo'))
    const { privateKey, publicKey } = await ring.keyPair()
    const sealed = await hpkeSeal({ recipientPublicKey: publicKey, info: new Uint8Array([1]) }, new Uint8Array([5, 6]))
    const p = { enc: sealed.enc, info: new Uint8Array([1]), aad: new Uint8Array(0) }
    assert.deepEqual(await ring.open(p, sealed.ciphertext), await hpkeOpen({ recipientPrivateKey: privateKey, ...p }, sealed.ciphertext))
    const lowOrder = [new Uint8Array(32), Uint8Array.from([1, ...new Array(31).fill(0)]), Uint8Array.from(Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex'))]
    for (const enc of lowOrder) {
      await assert.rejects(ring.open({ ...p, enc }, sealed.ciphertext), (e: unknown) => isW3aError(e, 'HPKE_OPEN_FAILED'))
      await assert.rejects(hpkeOpen({ recipientPrivateKey: privateKey, ...p, enc }, sealed.ciphertext), (e: unknown) => isW3aError(e, 'HPKE_OPEN_FAILED'))
    }
  })

  it('export/import round trip; the constructor copies the secret', async () => {
    const s = testBytes('s9')
    const ring = new EpochKeyring(9n, s)
    s.fill(0) // the caller zeroes its copy: the keyring keeps working
    const back = EpochKeyring.import(ring.export())
    assert.equal(back.epoch, 9n)
    assert.deepEqual(await back.publicKey(), (await epochKeyPair(testBytes('s9'))).publicKey)
    const bad = ring.export()
    bad[0] = 0
    assert.throws(() => EpochKeyring.import(bad), (e: unknown) => isW3aError(e, 'CUSTODY_MALFORMED'))
    assert.throws(() => EpochKeyring.import(ring.export().subarray(0, 40)), (e: unknown) => isW3aError(e, 'CUSTODY_MALFORMED'))
  })

  it('destroy() makes the keyring unusable', () => {
    const ring = new EpochKeyring(1n, testBytes('s1'))
    ring.destroy()
    assert.throws(() => ring.export(), (e: unknown) => isW3aError(e, 'INTERNAL'))
    assert.throws(() => ring.advanceTo(2n), (e: unknown) => isW3aError(e, 'INTERNAL'))
  })

  it('rejects bad input', () => {
    assert.throws(() => new EpochKeyring(0n, new Uint8Array(31)), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
    assert.throws(() => new EpochKeyring(-1n, testBytes('x')), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
    assert.throws(() => nextEpochSecret(new Uint8Array(16)), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
  })
})
