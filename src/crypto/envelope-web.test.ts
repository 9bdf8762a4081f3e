import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { decryptSegment, encryptSegment, generateDatasetKey } from './envelope.js'
import { encryptSegmentWeb } from './envelope-web.js'
import { envelopeCiphertextSize } from './envelope-format.js'

const context = { datasetId: `0x${'ab'.repeat(32)}` as const, segmentIndex: 3 }

test('the Web Crypto writer seals envelopes that the Node reader opens, for every chunk boundary case', async () => {
  const key = generateDatasetKey()
  for (const [size, chunkSize] of [
    [0, 16],
    [1, 16],
    [16, 16],
    [33, 16],
    [48, 16],
    [300_000, 65_536],
  ] as const) {
    const plaintext = randomBytes(size)
    const sealed = await encryptSegmentWeb({ key, context, chunkSize }, plaintext)
    assert.equal(sealed.length, envelopeCiphertextSize(size, chunkSize))
    assert.equal(sealed.length, encryptSegment({ key, context, chunkSize }, plaintext).length, 'same size as the Node writer')
    assert.deepEqual(Buffer.from(decryptSegment({ key, context }, sealed)), plaintext, `${size} bytes in ${chunkSize}-byte chunks`)
  }
})

test('what the Web Crypto writer seals is bound to its dataset, segment and length', async () => {
  const key = generateDatasetKey()
  const sealed = await encryptSegmentWeb({ key, context, chunkSize: 16 }, randomBytes(40))
  assert.throws(() => decryptSegment({ key, context: { ...context, segmentIndex: 4 } }, sealed), { code: 'ENVELOPE_AUTH_FAILED' })
  assert.throws(() => decryptSegment({ key, context: { ...context, datasetId: `0x${'cd'.repeat(32)}` } }, sealed), { code: 'ENVELOPE_AUTH_FAILED' })
  // Cut after the first full chunk: that chunk was sealed as non-final.
  assert.throws(() => decryptSegment({ key, context }, sealed.subarray(0, 44 + 32)), { code: 'ENVELOPE_TRUNCATED' })
  assert.throws(() => decryptSegment({ key: generateDatasetKey(), context }, sealed), { code: 'ENVELOPE_AUTH_FAILED' })
})

test('the Web Crypto writer refuses a bad key or context with INVALID_ARGUMENT', async () => {
  await assert.rejects(encryptSegmentWeb({ key: new Uint8Array(16), context }, new Uint8Array(1)), { code: 'INVALID_ARGUMENT' })
  await assert.rejects(encryptSegmentWeb({ key: generateDatasetKey(), context: { ...context, datasetId: '0x12' } }, new Uint8Array(1)), { code: 'INVALID_ARGUMENT' })
})
