import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isW3aError } from '../core/errors.js'
import { HPKE_SUITE_ID, deriveHpkeKeyPair, generateHpkeKeyPair, hpkeCipherSuite, hpkeOpen, hpkeSeal, hpkeTesting } from './hpke.js'

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))
const toHex = (b: Uint8Array | ArrayBuffer): string => Buffer.from(b instanceof ArrayBuffer ? new Uint8Array(b) : b).toString('hex')
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/**
 * RFC 9180 Appendix A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode
 * (mode 0, kem_id 32, kdf_id 1, aead_id 1). Values copied from the RFC's published vectors.
 */
const A1 = {
  info: '4f6465206f6e2061204772656369616e2055726e',
  ikmE: '7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234',
  pkEm: '37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431',
  skEm: '52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736',
  ikmR: '6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037',
  pkRm: '3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d',
  skRm: '4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8',
  enc: '37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431',
  pt: '4265617574792069732074727574682c20747275746820626561757479',
  encryptions: [
    { seq: 0, aad: '436f756e742d30', nonce: '56d890e5accaaf011cff4b7d', ct: 'f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a' },
    { seq: 1, aad: '436f756e742d31', nonce: '56d890e5accaaf011cff4b7c', ct: 'af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca42c2063b84' },
    { seq: 2, aad: '436f756e742d32', nonce: '56d890e5accaaf011cff4b7f', ct: '498dfcabd92e8acedc281e85af1cb4e3e31c7dc394a1ca20e173cb72516491588d96a19ad4a683518973dcc180' },
    { seq: 4, aad: '436f756e742d34', nonce: '56d890e5accaaf011cff4b79', ct: '583bd32bc67a5994bb8ceaca813d369bca7b2a42408cddef5e22f880b631215a09fc0012bc69fccaa251c0246d' },
    { seq: 255, aad: '436f756e742d323535', nonce: '56d890e5accaaf011cff4b82', ct: '7175db9717964058640a3a11fb9007941a5d1757fda1a6935c805c21af32505bf106deefec4a49ac38d71c9e0a' },
    { seq: 256, aad: '436f756e742d323536', nonce: '56d890e5accaaf011cff4a7d', ct: '957f9800542b0b8891badb026d79cc54597cb2d225b54c00c5238c25d05c30e3fbeda97d2e0e1aba483a2df9f2' },
  ],
  exports: [
    { context: '', L: 32, value: '3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee' },
    { context: '00', L: 32, value: '2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5' },
    { context: '54657374436f6e74657874', L: 32, value: 'e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931' },
  ],
}

const isOpenFailed = (e: unknown) => isW3aError(e, 'HPKE_OPEN_FAILED')

describe('hpke: RFC 9180 A.1 known answers', () => {
  it('names the suite', () => {
    assert.equal(HPKE_SUITE_ID, 'DHKEM(X25519,HKDF-SHA256)/HKDF-SHA256/AES-128-GCM')
  })

  it('DeriveKeyPair(ikmR) and DeriveKeyPair(ikmE) give the RFC keys', async () => {
    const r = await deriveHpkeKeyPair(hex(A1.ikmR))
    assert.equal(toHex(r.privateKey), A1.skRm)
    assert.equal(toHex(r.publicKey), A1.pkRm)
    const e = await deriveHpkeKeyPair(hex(A1.ikmE))
    assert.equal(toHex(e.privateKey), A1.skEm)
    assert.equal(toHex(e.publicKey), A1.pkEm)
  })

  it('seal with the RFC ephemeral key gives the RFC enc and first ciphertext', async () => {
    const first = A1.encryptions[0]!
    const r = await hpkeTesting.sealWithEphemeralIkm({ recipientPublicKey: hex(A1.pkRm), info: hex(A1.info), aad: hex(first.aad) }, hex(A1.pt), hex(A1.ikmE))
    assert.equal(toHex(r.enc), A1.enc)
    assert.equal(toHex(r.ciphertext), first.ct)
  })

  it('hpkeOpen opens the RFC ciphertext (sequence 0)', async () => {
    const first = A1.encryptions[0]!
    const pt = await hpkeOpen({ recipientPrivateKey: hex(A1.skRm), enc: hex(A1.enc), info: hex(A1.info), aad: hex(first.aad) }, hex(first.ct))
    assert.equal(toHex(pt), A1.pt)
  })

  it('the suite reproduces every published encryption (sequence 0, 1, 2, 4, 255, 256) and export', async () => {
    // hpkeSeal/hpkeOpen are single-shot (sequence 0); contexts of the same suite check the rest.
    const suite = hpkeCipherSuite()
    const sender = await suite.createSenderContext({ recipientPublicKey: await suite.kem.deserializePublicKey(hex(A1.pkRm)), info: hex(A1.info), ekm: hex(A1.ikmE) })
    const recipient = await suite.createRecipientContext({ recipientKey: await suite.kem.deserializePrivateKey(hex(A1.skRm)), enc: hex(A1.enc), info: hex(A1.info) })
    assert.equal(toHex(sender.enc), A1.enc)
    const byseq = new Map(A1.encryptions.map((v) => [v.seq, v]))
    for (let seq = 0; seq <= 256; seq++) {
      const v = byseq.get(seq)
      const aad = v ? hex(v.aad) : new Uint8Array(0)
      const ct = await sender.seal(hex(A1.pt), aad)
      if (v) assert.equal(toHex(ct), v.ct, `sequence ${seq}`)
      assert.equal(toHex(await recipient.open(ct, aad)), A1.pt) // keeps the recipient in step
    }
    for (const x of A1.exports) {
      assert.equal(toHex(await sender.export(hex(x.context), x.L)), x.value)
      assert.equal(toHex(await recipient.export(hex(x.context), x.L)), x.value)
    }
  })
})

describe('hpke: seal/open', () => {
  it('round trips with info and aad; a fresh ephemeral key each time', async () => {
    const kp = await generateHpkeKeyPair()
    assert.equal(kp.publicKey.length, 32)
    assert.equal(kp.privateKey.length, 32)
    const params = { info: utf8('w3a/test'), aad: utf8('header') }
    const a = await hpkeSeal({ recipientPublicKey: kp.publicKey, ...params }, utf8('hello'))
    const b = await hpkeSeal({ recipientPublicKey: kp.publicKey, ...params }, utf8('hello'))
    assert.notDeepEqual(a.enc, b.enc)
    assert.equal(new TextDecoder().decode(await hpkeOpen({ recipientPrivateKey: kp.privateKey, enc: a.enc, ...params }, a.ciphertext)), 'hello')
    const empty = await hpkeSeal({ recipientPublicKey: kp.publicKey }, new Uint8Array(0))
    assert.equal((await hpkeOpen({ recipientPrivateKey: kp.privateKey, enc: empty.enc }, empty.ciphertext)).length, 0)
  })

  it('wrong key, info, aad, or tampered enc/ciphertext all give HPKE_OPEN_FAILED', async () => {
    const kp = await generateHpkeKeyPair()
    const other = await generateHpkeKeyPair()
    const info = utf8('info')
    const aad = utf8('aad')
    const { enc, ciphertext } = await hpkeSeal({ recipientPublicKey: kp.publicKey, info, aad }, utf8('secret'))
    const flip = (b: Uint8Array, i: number) => {
      const c = Uint8Array.from(b)
      c[i]! ^= 1
      return c
    }
    const cases = [
      { recipientPrivateKey: other.privateKey, enc, info, aad, ct: ciphertext },
      { recipientPrivateKey: kp.privateKey, enc, info: utf8('other'), aad, ct: ciphertext },
      { recipientPrivateKey: kp.privateKey, enc, info: undefined, aad, ct: ciphertext },
      { recipientPrivateKey: kp.privateKey, enc, info, aad: utf8('other'), ct: ciphertext },
      { recipientPrivateKey: kp.privateKey, enc: flip(enc, 0), info, aad, ct: ciphertext },
      { recipientPrivateKey: kp.privateKey, enc: enc.subarray(0, 31), info, aad, ct: ciphertext },
      { recipientPrivateKey: kp.privateKey, enc, info, aad, ct: flip(ciphertext, 0) },
      { recipientPrivateKey: kp.privateKey, enc, info, aad, ct: flip(ciphertext, ciphertext.length - 1) },
      { recipientPrivateKey: kp.privateKey, enc, info, aad, ct: ciphertext.subarray(0, 10) },
    ]
    for (const { ct, ...p } of cases) await assert.rejects(hpkeOpen(p, ct), isOpenFailed)
  })

  it('rejects malformed keys and too-short ikm as INVALID_ARGUMENT', async () => {
    const bad = (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT')
    await assert.rejects(hpkeSeal({ recipientPublicKey: new Uint8Array(31) }, utf8('x')), bad)
    await assert.rejects(hpkeSeal({ recipientPublicKey: new Uint8Array(32) }, utf8('x')), bad) // low-order point
    await assert.rejects(hpkeOpen({ recipientPrivateKey: new Uint8Array(33), enc: new Uint8Array(32) }, utf8('x')), bad)
    await assert.rejects(deriveHpkeKeyPair(new Uint8Array(16)), bad)
  })
})
