import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { gzipSync } from 'node:zlib'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateHpkeKeyPair, hpkeReceiverExport } from '../crypto/hpke.js'
import { hpkeExportToRecipient } from './hpke-export.js'
import { eventKeyContext, ingestInfo } from './event-format.js'
// @ts-expect-error: a plain .mjs build script (no types)
import { buildTracker } from '../../scripts/build-tracker.mjs'

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const b64u = (b: Uint8Array): string => Buffer.from(b).toString('base64url')

/** RFC 9180 A.1.1 (base mode, X25519 / HKDF-SHA256 / AES-128-GCM): keys, info and exported values. */
const A1 = {
  info: '4f6465206f6e2061204772656369616e2055726e',
  pkEm: '37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431',
  skEm: '52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736',
  pkRm: '3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d',
  exports: [
    { context: '', value: '3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee' },
    { context: '00', value: '2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5' },
    { context: '54657374436f6e74657874', value: 'e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931' },
  ],
}

/** The tracker's bundle budget (issue 12): gzipped bytes of dist/js/w3a.js. */
const TRACKER_BUDGET = 3 * 1024

describe('tracker HPKE (WebCrypto) against RFC 9180 and @hpke/core', () => {
  it('reproduces the RFC 9180 A.1 exported secrets with the RFC ephemeral key', async () => {
    const x = { name: 'X25519' }
    const privateKey = await crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'X25519', d: b64u(hex(A1.skEm)), x: b64u(hex(A1.pkEm)) }, x, true, ['deriveBits'])
    const publicKey = await crypto.subtle.importKey('raw', hex(A1.pkEm) as BufferSource, x, true, [])
    for (const v of A1.exports) {
      const out = await hpkeExportToRecipient(hex(A1.pkRm), hex(A1.info), hex(v.context), 32, { privateKey, publicKey })
      assert.equal(toHex(out.enc), A1.pkEm)
      assert.equal(toHex(out.secret), v.value)
    }
  })

  it('the enclave side (@hpke/core) derives the same event key from enc; another site or key does not', async () => {
    const r = await generateHpkeKeyPair()
    const { enc, secret } = await hpkeExportToRecipient(r.publicKey, ingestInfo('site-a'), eventKeyContext(), 32)
    const opened = await hpkeReceiverExport({ recipientPrivateKey: r.privateKey, enc, info: ingestInfo('site-a'), exporterContext: eventKeyContext(), length: 32 })
    assert.equal(toHex(opened), toHex(secret))
    const otherSite = await hpkeReceiverExport({ recipientPrivateKey: r.privateKey, enc, info: ingestInfo('site-b'), exporterContext: eventKeyContext(), length: 32 })
    assert.notEqual(toHex(otherSite), toHex(secret))
    const other = await generateHpkeKeyPair()
    const wrongKey = await hpkeReceiverExport({ recipientPrivateKey: other.privateKey, enc, info: ingestInfo('site-a'), exporterContext: eventKeyContext(), length: 32 })
    assert.notEqual(toHex(wrongKey), toHex(secret))
  })
})

describe('tracker bundle', () => {
  it(`is at most ${TRACKER_BUDGET} bytes gzipped`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'w3a-tracker-'))
    try {
      const bytes: Uint8Array = await buildTracker(join(dir, 'w3a.js'))
      const gz = gzipSync(bytes, { level: 9 }).length
      assert.ok(bytes.length > 500, 'the bundle holds the tracker')
      assert.ok(gz <= TRACKER_BUDGET, `tracker is ${gz} bytes gzipped, over the ${TRACKER_BUDGET}-byte budget`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
