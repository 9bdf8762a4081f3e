import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateHpkeKeyPair, hpkeOpen, hpkeReceiverExport, hpkeSeal } from './hpke.js'
import { hpkeOpenSync, hpkeReceiverExportSync, hpkeSealSync, x25519Recipient } from './hpke-export-node.js'
import { hpkeExportToRecipient } from '../tracker/hpke-export.js'
import { isW3aError } from '../core/errors.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe('HPKE receiver export (node:crypto X25519)', () => {
  it('derives what @hpke/core derives from the tracker sender\'s enc; another key, info or context does not', async () => {
    const key = await generateHpkeKeyPair()
    const r = x25519Recipient(key.privateKey)
    assert.equal(hex(r.publicKey), hex(key.publicKey))
    const info = new TextEncoder().encode('w3a/ingest/v1/site')
    const ctx = new TextEncoder().encode('w3a/event-key/v1')
    for (let i = 0; i < 5; i++) {
      const { enc, secret } = await hpkeExportToRecipient(key.publicKey, info, ctx, 32)
      const mine = hpkeReceiverExportSync(r, enc, info, ctx, 32)
      assert.equal(hex(mine), hex(secret))
      assert.equal(hex(mine), hex(await hpkeReceiverExport({ recipientPrivateKey: key.privateKey, enc, info, exporterContext: ctx, length: 32 })))
      assert.notEqual(hex(hpkeReceiverExportSync(r, enc, new TextEncoder().encode('other'), ctx, 32)), hex(secret))
      assert.notEqual(hex(hpkeReceiverExportSync(x25519Recipient((await generateHpkeKeyPair()).privateKey), enc, info, ctx, 32)), hex(secret))
    }
  })

  it('refuses a small-order or malformed enc', () => {
    const r = x25519Recipient(new Uint8Array(32).fill(7))
    assert.throws(() => hpkeReceiverExportSync(r, new Uint8Array(32), new Uint8Array(0), new Uint8Array(0), 32), (e) => isW3aError(e, 'HPKE_OPEN_FAILED'))
    assert.throws(() => hpkeReceiverExportSync(r, new Uint8Array(31), new Uint8Array(0), new Uint8Array(0), 32), (e) => isW3aError(e, 'HPKE_OPEN_FAILED'))
  })

  it('single-shot open and seal interoperate with @hpke/core both ways; another key, info or a flipped bit does not open', async () => {
    const key = await generateHpkeKeyPair()
    const r = x25519Recipient(key.privateKey)
    const info = new TextEncoder().encode('w3a.campaign-answer.v1 terms')
    const msg = new TextEncoder().encode('{"answer":"female"}')
    const js = await hpkeSeal({ recipientPublicKey: key.publicKey, info }, msg)
    assert.equal(new TextDecoder().decode(hpkeOpenSync(r, js.enc, info, js.ciphertext)), '{"answer":"female"}')
    const native = hpkeSealSync(key.publicKey, info, msg)
    assert.equal(new TextDecoder().decode(await hpkeOpen({ recipientPrivateKey: key.privateKey, enc: native.enc, info }, native.ciphertext)), '{"answer":"female"}')
    const flipped = native.ciphertext.slice()
    flipped[0]! ^= 1
    for (const [rr, i, c] of [[r, new TextEncoder().encode('other'), native.ciphertext], [x25519Recipient((await generateHpkeKeyPair()).privateKey), info, native.ciphertext], [r, info, flipped]] as const) {
      assert.throws(() => hpkeOpenSync(rr, native.enc, i, c), (e) => isW3aError(e, 'HPKE_OPEN_FAILED'))
    }
  })
})
