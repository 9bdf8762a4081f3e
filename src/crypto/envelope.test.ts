import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createDecipheriv, createCipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { isW3aError, type W3aErrorCode } from '../core/errors.js'
import { UNIXFS_CHUNK_SIZE } from '../storage/unixfs.js'
import {
  DEFAULT_CHUNK_SIZE,
  ENVELOPE_HEADER_SIZE,
  ENVELOPE_STREAM_PIECE_SIZE,
  ENVELOPE_TAG_SIZE,
  ENVELOPE_VERSION,
  MAX_CHUNK_SIZE,
  decryptSegment,
  decryptSegmentStream,
  encryptSegment,
  encryptSegmentStream,
  envelopeCiphertextSize,
  generateDatasetKey,
  type EnvelopeContext,
} from './envelope.js'

const key = generateDatasetKey()
const ctx: EnvelopeContext = { datasetId: `0x${'a1'.repeat(32)}`, segmentIndex: 7 }
const CS = 16 // small chunks keep the exhaustive attack loops cheap
const REC = CS + ENVELOPE_TAG_SIZE
/** The default before 1 MiB: envelopes written with it must keep opening. */
const LEGACY_CS = 65536

/** Deterministic, irregular slicing (1-byte to larger pieces). */
async function* sliced(buf: Uint8Array, sizes: number[] = [1, 7, 3, 64, 5, 1000, 2, 17]): AsyncGenerator<Uint8Array> {
  for (let o = 0, i = 0; o < buf.length; i++) {
    const n = sizes[i % sizes.length]!
    yield buf.slice(o, o + n)
    o += n
  }
}

async function* whole(buf: Uint8Array): AsyncGenerator<Uint8Array> {
  yield buf
}

async function collect(gen: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of gen) parts.push(p)
  return Buffer.concat(parts)
}

/** Runs the stream decryptor; returns what it yielded before failing, and the failure. */
async function streamDecrypt(ct: Uint8Array, source: (b: Uint8Array) => AsyncIterable<Uint8Array> = sliced, context = ctx, k = key) {
  const parts: Uint8Array[] = []
  try {
    for await (const p of decryptSegmentStream({ key: k, context }, source(ct))) parts.push(Buffer.from(p))
    return { yielded: Buffer.concat(parts), error: undefined }
  } catch (error) {
    return { yielded: Buffer.concat(parts), error }
  }
}

function expectCode(fn: () => unknown, codes: W3aErrorCode | W3aErrorCode[], detail?: string): void {
  const list = Array.isArray(codes) ? codes : [codes]
  assert.throws(fn, (e: unknown) => {
    assert.ok(isW3aError(e), `expected W3aError, got ${String(e)}`)
    assert.ok(list.includes(e.code), `expected ${list.join('|')}, got ${e.code}: ${e.message}`)
    if (detail !== undefined) assert.ok(e.details.some((d) => d.includes(detail)), `details ${JSON.stringify(e.details)} lack "${detail}"`)
    return true
  })
}

function expectStreamError(error: unknown, codes: W3aErrorCode | W3aErrorCode[], detail?: string): void {
  expectCode(() => {
    throw error ?? new Error('stream did not fail')
  }, codes, detail)
}

function flip(buf: Uint8Array, i: number, bit = 1): Uint8Array {
  const c = Uint8Array.from(buf)
  c[i]! ^= bit
  return c
}

/** Ciphertext records (chunk ciphertext + tag) after the header. */
function records(ct: Uint8Array, cs = CS): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let o = ENVELOPE_HEADER_SIZE; o < ct.length; o += cs + ENVELOPE_TAG_SIZE) out.push(ct.subarray(o, Math.min(ct.length, o + cs + ENVELOPE_TAG_SIZE)))
  return out
}

function assemble(header: Uint8Array, recs: Uint8Array[]): Uint8Array {
  return Buffer.concat([header, ...recs])
}

describe('envelope: round trips', () => {
  for (const cs of [CS, LEGACY_CS, DEFAULT_CHUNK_SIZE]) {
    const sizes = [0, 1, cs - 1, cs, cs + 1, 3 * cs, 3 * cs + 5]
    for (const n of sizes) {
      it(`chunk ${cs}, ${n} bytes: whole and stream, cross-compatible`, async () => {
        const pt = randomBytes(n)
        const a = encryptSegment({ key, context: ctx, chunkSize: cs }, pt)
        const b = await collect(encryptSegmentStream({ key, context: ctx, chunkSize: cs }, sliced(pt, [1, 5, cs, 3 * cs + 1])))
        assert.equal(a.length, envelopeCiphertextSize(n, cs))
        assert.equal(b.length, a.length)
        for (const ct of [a, b]) {
          assert.deepEqual(Buffer.from(decryptSegment({ key, context: ctx }, ct)), pt)
          assert.deepEqual(await collect(decryptSegmentStream({ key, context: ctx }, sliced(ct))), pt)
          assert.deepEqual(await collect(decryptSegmentStream({ key, context: ctx }, whole(ct))), pt)
        }
      })
    }
  }

  it('accepts 1-byte and 256 KiB input slices', async () => {
    // 1-byte slices over a few chunks (legacy size keeps this quick), coarser ones over default chunks.
    for (const [chunkSize, sizes] of [[LEGACY_CS, [1]], [LEGACY_CS, [256 * 1024]], [DEFAULT_CHUNK_SIZE, [4093]], [DEFAULT_CHUNK_SIZE, [256 * 1024]]] as const) {
      const pt = randomBytes(3 * chunkSize + 123)
      const ct = encryptSegment({ key, context: ctx, chunkSize }, pt)
      assert.deepEqual(await collect(decryptSegmentStream({ key, context: ctx }, sliced(ct, [...sizes]))), pt)
      const ct2 = await collect(encryptSegmentStream({ key, context: ctx, chunkSize }, sliced(pt, [...sizes])))
      assert.deepEqual(Buffer.from(decryptSegment({ key, context: ctx }, ct2)), pt)
    }
  })

  it('writes 1 MiB chunks by default, and still reads the 64 KiB chunks of older envelopes', async () => {
    assert.equal(DEFAULT_CHUNK_SIZE, 1024 * 1024)
    const pt = randomBytes(2 * LEGACY_CS + 9)
    const a = Buffer.from(encryptSegment({ key, context: ctx }, pt))
    const b = await collect(encryptSegmentStream({ key, context: ctx }, whole(pt)))
    for (const ct of [a, b]) assert.equal(ct.readUInt32BE(8), DEFAULT_CHUNK_SIZE)
    const legacy = Buffer.from(encryptSegment({ key, context: ctx, chunkSize: LEGACY_CS }, pt))
    assert.equal(legacy.readUInt32BE(8), LEGACY_CS)
    assert.equal(legacy.length, ENVELOPE_HEADER_SIZE + pt.length + 3 * ENVELOPE_TAG_SIZE)
    assert.deepEqual(Buffer.from(decryptSegment({ key, context: ctx }, legacy)), pt)
    assert.deepEqual(await collect(decryptSegmentStream({ key, context: ctx }, sliced(legacy, [1000]))), pt)
  })

  it('the stream yields whole UnixFS-leaf pieces (only the last one shorter), each its own bytes', async () => {
    assert.equal(ENVELOPE_STREAM_PIECE_SIZE, UNIXFS_CHUNK_SIZE)
    for (const [n, chunkSize, pieceSize] of [
      [5 * 1024 * 1024 + 77, undefined, undefined], // default chunks and pieces
      [3 * LEGACY_CS + 5, LEGACY_CS, undefined], // every piece straddles a tag
      [1000, 16, 7], // pieces smaller than a record
      [1000, 33, 49], // pieces and records of unrelated sizes
      [0, 16, 1],
    ] as const) {
      const pt = randomBytes(n)
      const expected = envelopeCiphertextSize(n, chunkSize ?? DEFAULT_CHUNK_SIZE)
      const size = pieceSize ?? ENVELOPE_STREAM_PIECE_SIZE
      for (const slices of [[1024 * 1024], [3, 5000, 17]]) {
        const pieces: Uint8Array[] = []
        for await (const p of encryptSegmentStream({ key, context: ctx, chunkSize, pieceSize }, sliced(pt, slices))) pieces.push(p)
        assert.equal(pieces.length, Math.ceil(expected / size))
        pieces.forEach((p, i) => assert.equal(p.length, i < pieces.length - 1 ? size : expected - i * size))
        // No two pieces share bytes, so a consumer may keep (or recycle) each one on its own.
        const ranges = pieces.map((p) => ({ buf: p.buffer, from: p.byteOffset, to: p.byteOffset + p.length }))
        for (const [i, r] of ranges.entries()) {
          for (const q of ranges.slice(i + 1)) assert.ok(r.buf !== q.buf || r.to <= q.from || q.to <= r.from, 'pieces overlap')
        }
        const ct = Buffer.concat(pieces)
        assert.deepEqual(Buffer.from(decryptSegment({ key, context: ctx }, ct)), pt)
      }
    }
  })

  it('rejects a bad piece size', async () => {
    for (const pieceSize of [0, -1, 1.5, Number.NaN]) {
      await assert.rejects(collect(encryptSegmentStream({ key, context: ctx, pieceSize }, whole(randomBytes(10)))), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
    }
  })

  it('an empty plaintext is one final chunk (a bare tag)', () => {
    const ct = encryptSegment({ key, context: ctx }, new Uint8Array(0))
    assert.equal(ct.length, ENVELOPE_HEADER_SIZE + ENVELOPE_TAG_SIZE)
    assert.equal(decryptSegment({ key, context: ctx }, ct).length, 0)
  })

  it('writes magic, version, chunk size and a fresh salt in the header', () => {
    const pt = randomBytes(100)
    const a = Buffer.from(encryptSegment({ key, context: ctx, chunkSize: 4096 }, pt))
    const b = Buffer.from(encryptSegment({ key, context: ctx, chunkSize: 4096 }, pt))
    assert.equal(a.subarray(0, 4).toString('latin1'), 'W3AE')
    assert.equal(a[4], ENVELOPE_VERSION)
    assert.deepEqual([...a.subarray(5, 8)], [0, 0, 0])
    assert.equal(a.readUInt32BE(8), 4096)
    assert.notDeepEqual(a.subarray(12, 44), b.subarray(12, 44))
    assert.notDeepEqual(a, b)
  })

  it('handles segment indexes beyond 32 bits', () => {
    const context = { ...ctx, segmentIndex: 2 ** 40 + 3 }
    const pt = randomBytes(50)
    assert.deepEqual(Buffer.from(decryptSegment({ key, context }, encryptSegment({ key, context, chunkSize: CS }, pt))), pt)
  })

  it('envelopeCiphertextSize counts one tag per chunk and at least one chunk', () => {
    assert.equal(envelopeCiphertextSize(0), 44 + 16)
    assert.equal(envelopeCiphertextSize(DEFAULT_CHUNK_SIZE), 44 + DEFAULT_CHUNK_SIZE + 16)
    assert.equal(envelopeCiphertextSize(DEFAULT_CHUNK_SIZE + 1), 44 + DEFAULT_CHUNK_SIZE + 1 + 32)
    assert.equal(envelopeCiphertextSize(65536, LEGACY_CS), 44 + 65536 + 16)
    assert.equal(envelopeCiphertextSize(65537, LEGACY_CS), 44 + 65537 + 32)
    assert.equal(envelopeCiphertextSize(32, 16), 44 + 32 + 32)
  })

  it('generateDatasetKey returns 32 fresh random bytes', () => {
    const a = generateDatasetKey()
    assert.equal(a.length, 32)
    assert.notDeepEqual(a, generateDatasetKey())
  })
})

describe('envelope: matches the byte layout in docs/formats.md', () => {
  // An independent reading of the documented format, written from the spec, not the code.
  const info = Buffer.from('w3a/envelope/v1/aes-256-gcm')
  const u64 = (n: number) => {
    const b = Buffer.alloc(8)
    b.writeBigUInt64BE(BigInt(n))
    return b
  }
  const spec = (header: Buffer, context: EnvelopeContext, i: number, final: boolean) => ({
    key: Buffer.from(hkdfSync('sha256', key, header.subarray(12, 44), info, 32)),
    nonce: Buffer.concat([Buffer.alloc(4), u64(i)]),
    aad: Buffer.concat([header, Buffer.from(context.datasetId.slice(2), 'hex'), u64(context.segmentIndex), u64(i), Buffer.of(final ? 1 : 0)]),
  })

  /** Opens `ct` by the spec alone (chunk size from its header). */
  function openBySpec(ct: Buffer, context: EnvelopeContext): Buffer {
    const header = ct.subarray(0, 44)
    const cs = header.readUInt32BE(8)
    const out: Buffer[] = []
    records(ct, cs).forEach((r, i, all) => {
      const s = spec(header, context, i, i === all.length - 1)
      const d = createDecipheriv('aes-256-gcm', s.key, s.nonce)
      d.setAAD(s.aad)
      d.setAuthTag(r.subarray(r.length - 16))
      out.push(d.update(r.subarray(0, r.length - 16)))
      d.final()
    })
    return Buffer.concat(out)
  }

  it('our ciphertext opens with the documented key, nonce and AAD', () => {
    const pt = randomBytes(2 * CS + 3)
    assert.deepEqual(openBySpec(Buffer.from(encryptSegment({ key, context: ctx, chunkSize: CS }, pt)), ctx), pt)
  })

  it('so does the stream, with the default and other chunk sizes', async () => {
    for (const [n, chunkSize] of [[2 * DEFAULT_CHUNK_SIZE + 1000, undefined], [5 * CS + 1, CS], [3 * LEGACY_CS, LEGACY_CS]] as const) {
      const pt = randomBytes(n)
      const ct = await collect(encryptSegmentStream({ key, context: ctx, chunkSize }, sliced(pt, [100_000, 1, 300_000])))
      assert.equal(ct.readUInt32BE(8), chunkSize ?? DEFAULT_CHUNK_SIZE)
      assert.deepEqual(openBySpec(ct, ctx), pt)
      assert.deepEqual(openBySpec(Buffer.from(encryptSegment({ key, context: ctx, chunkSize }, pt)), ctx), pt)
    }
  })

  it('an envelope built from the spec opens with our decryptor', () => {
    const pt = randomBytes(CS + 5)
    const header = Buffer.alloc(44)
    header.write('W3AE', 0, 'latin1')
    header[4] = 1
    header.writeUInt32BE(CS, 8)
    randomBytes(32).copy(header, 12)
    const parts: Buffer[] = [header]
    for (const [i, chunk] of [pt.subarray(0, CS), pt.subarray(CS)].entries()) {
      const s = spec(header, ctx, i, i === 1)
      const c = createCipheriv('aes-256-gcm', s.key, s.nonce)
      c.setAAD(s.aad)
      parts.push(c.update(chunk), c.final(), c.getAuthTag())
    }
    assert.deepEqual(Buffer.from(decryptSegment({ key, context: ctx }, Buffer.concat(parts))), pt)
  })
})

describe('envelope: attacks', () => {
  const pt = randomBytes(4 * CS + 7) // 5 chunks, the last one short
  const ct = encryptSegment({ key, context: ctx, chunkSize: CS }, pt)
  const header = ct.subarray(0, ENVELOPE_HEADER_SIZE)
  const recs = records(ct)

  it('bit flips in the header are refused', async () => {
    for (let i = 0; i < ENVELOPE_HEADER_SIZE; i++) {
      for (const bit of [0x01, 0x80]) {
        const bad = flip(ct, i, bit)
        // magic, version and reserved bytes are structural; a flipped salt derives another key
        const codes: W3aErrorCode[] = i < 8 ? ['ENVELOPE_MALFORMED'] : i < 12 ? ['ENVELOPE_MALFORMED', 'ENVELOPE_AUTH_FAILED', 'ENVELOPE_TRUNCATED'] : ['ENVELOPE_AUTH_FAILED']
        expectCode(() => decryptSegment({ key, context: ctx }, bad), codes)
        const r = await streamDecrypt(bad)
        expectStreamError(r.error, codes)
        assert.equal(r.yielded.length, 0)
      }
    }
  })

  it('bit flips anywhere in the body (ciphertext or tag) fail authentication of that chunk', async () => {
    for (let i = ENVELOPE_HEADER_SIZE; i < ct.length; i++) {
      const chunk = Math.floor((i - ENVELOPE_HEADER_SIZE) / REC)
      const bad = flip(ct, i)
      expectCode(() => decryptSegment({ key, context: ctx }, bad), 'ENVELOPE_AUTH_FAILED', `chunk: ${chunk}`)
      const r = await streamDecrypt(bad)
      expectStreamError(r.error, 'ENVELOPE_AUTH_FAILED', `chunk: ${chunk}`)
      assert.deepEqual(r.yielded, pt.subarray(0, chunk * CS)) // nothing of the tampered chunk
    }
  })

  it('bit flips in a tag are caught', () => {
    for (const [c, r] of recs.entries()) {
      const tagStart = ENVELOPE_HEADER_SIZE + c * REC + r.length - ENVELOPE_TAG_SIZE
      for (let i = tagStart; i < tagStart + ENVELOPE_TAG_SIZE; i++) {
        expectCode(() => decryptSegment({ key, context: ctx }, flip(ct, i, 0x40)), 'ENVELOPE_AUTH_FAILED', `chunk: ${c}`)
      }
    }
  })

  it('truncation at every length is refused; at chunk boundaries as ENVELOPE_TRUNCATED', async () => {
    for (let len = 0; len < ct.length; len++) {
      const cut = ct.subarray(0, len)
      const body = len - ENVELOPE_HEADER_SIZE
      const atBoundary = body >= 0 && body % REC === 0
      const tail = body - Math.max(0, Math.ceil(body / REC) - 1) * REC // bytes of the last, partial record
      const codes: W3aErrorCode[] = body < 0 || atBoundary || tail < ENVELOPE_TAG_SIZE ? ['ENVELOPE_TRUNCATED'] : ['ENVELOPE_AUTH_FAILED']
      expectCode(() => decryptSegment({ key, context: ctx }, cut), codes)
      const r = await streamDecrypt(cut)
      expectStreamError(r.error, codes)
      // Only complete chunks known to be non-final can have been released.
      const released = body > REC ? Math.floor((body - 1) / REC) : 0
      assert.deepEqual(r.yielded, pt.subarray(0, released * CS), `len ${len}`)
    }
  })

  it('dropping the final chunk is ENVELOPE_TRUNCATED, also when the final chunk is full', async () => {
    expectCode(() => decryptSegment({ key, context: ctx }, assemble(header, recs.slice(0, -1))), 'ENVELOPE_TRUNCATED')
    const full = randomBytes(3 * CS)
    const ct2 = encryptSegment({ key, context: ctx, chunkSize: CS }, full)
    const cut = ct2.subarray(0, ct2.length - REC)
    expectCode(() => decryptSegment({ key, context: ctx }, cut), 'ENVELOPE_TRUNCATED')
    const r = await streamDecrypt(cut)
    expectStreamError(r.error, 'ENVELOPE_TRUNCATED')
    assert.deepEqual(r.yielded, full.subarray(0, CS)) // chunk 0 only: chunk 1 was never known to be non-final
  })

  it('swapping or duplicating chunks fails at the first moved chunk', async () => {
    const swapped = assemble(header, [recs[0]!, recs[2]!, recs[1]!, recs[3]!, recs[4]!])
    expectCode(() => decryptSegment({ key, context: ctx }, swapped), 'ENVELOPE_AUTH_FAILED', 'chunk: 1')
    const r = await streamDecrypt(swapped)
    expectStreamError(r.error, 'ENVELOPE_AUTH_FAILED', 'chunk: 1')
    assert.deepEqual(r.yielded, pt.subarray(0, CS))
    const dup = assemble(header, [recs[0]!, recs[0]!, ...recs.slice(2)])
    expectCode(() => decryptSegment({ key, context: ctx }, dup), 'ENVELOPE_AUTH_FAILED', 'chunk: 1')
  })

  it('a chunk spliced in from another segment or another dataset fails', () => {
    for (const other of [{ ...ctx, segmentIndex: ctx.segmentIndex + 1 }, { ...ctx, datasetId: `0x${'b2'.repeat(32)}` as const }]) {
      const ct2 = encryptSegment({ key, context: other, chunkSize: CS }, pt)
      const spliced = assemble(header, [recs[0]!, records(ct2)[1]!, ...recs.slice(2)])
      expectCode(() => decryptSegment({ key, context: ctx }, spliced), 'ENVELOPE_AUTH_FAILED', 'chunk: 1')
      // The whole segment (its own header, same key) presented under another context.
      expectCode(() => decryptSegment({ key, context: ctx }, ct2), 'ENVELOPE_AUTH_FAILED', 'chunk: 0')
    }
  })

  it('the wrong key fails at chunk 0, yielding nothing', async () => {
    expectCode(() => decryptSegment({ key: generateDatasetKey(), context: ctx }, ct), 'ENVELOPE_AUTH_FAILED', 'chunk: 0')
    const r = await streamDecrypt(ct, sliced, ctx, generateDatasetKey())
    expectStreamError(r.error, 'ENVELOPE_AUTH_FAILED', 'chunk: 0')
    assert.equal(r.yielded.length, 0)
  })

  it('trailing bytes after the final chunk are refused', async () => {
    const full = randomBytes(2 * CS)
    const ctFull = encryptSegment({ key, context: ctx, chunkSize: CS }, full)
    for (const base of [ct, ctFull]) {
      for (const extra of [Buffer.of(0), randomBytes(15), randomBytes(16), randomBytes(REC), randomBytes(REC + 3), records(base).at(-1)!]) {
        const bad = Buffer.concat([base, extra])
        expectCode(() => decryptSegment({ key, context: ctx }, bad), ['ENVELOPE_AUTH_FAILED', 'ENVELOPE_MALFORMED'])
        const r = await streamDecrypt(bad)
        expectStreamError(r.error, ['ENVELOPE_AUTH_FAILED', 'ENVELOPE_MALFORMED'])
        assert.ok(r.yielded.length < (base === ct ? pt.length : full.length))
      }
    }
    // A full final chunk followed by bytes is recognised as exactly that.
    expectCode(() => decryptSegment({ key, context: ctx }, Buffer.concat([ctFull, Buffer.of(1)])), 'ENVELOPE_MALFORMED', 'final chunk: 1')
  })

  it('a tampered chunk in the middle of a stream yields exactly the chunks before it', async () => {
    // 1-byte slices only over legacy-size chunks: the point is the slicing, not the size.
    for (const [cs, slicings] of [[LEGACY_CS, [[1], [256 * 1024], [4096, 1, 70000]]], [DEFAULT_CHUNK_SIZE, [[256 * 1024], [4096, 1, 70000]]]] as const) {
      const big = randomBytes(5 * cs)
      const ct3 = encryptSegment({ key, context: ctx, chunkSize: cs }, big)
      const bad = flip(ct3, ENVELOPE_HEADER_SIZE + 2 * (cs + 16) + 100)
      for (const sizes of slicings) {
        const r = await streamDecrypt(bad, (b) => sliced(b, [...sizes]))
        expectStreamError(r.error, 'ENVELOPE_AUTH_FAILED', 'chunk: 2')
        assert.deepEqual(r.yielded, big.subarray(0, 2 * cs))
      }
    }
  })
})

describe('envelope: malformed input and arguments', () => {
  const ct = encryptSegment({ key, context: ctx, chunkSize: CS }, randomBytes(40))

  it('bad magic, version, reserved bytes or chunk size are ENVELOPE_MALFORMED', async () => {
    const edits: Array<(b: Buffer) => void> = [
      (b) => b.write('W3AF', 0, 'latin1'),
      (b) => (b[4] = 2),
      (b) => (b[4] = 0),
      (b) => (b[6] = 1),
      (b) => b.writeUInt32BE(0, 8),
      (b) => b.writeUInt32BE(MAX_CHUNK_SIZE + 1, 8),
      (b) => b.writeUInt32BE(0xffffffff, 8),
    ]
    for (const edit of edits) {
      const bad = Buffer.from(ct)
      edit(bad)
      expectCode(() => decryptSegment({ key, context: ctx }, bad), 'ENVELOPE_MALFORMED')
      expectStreamError((await streamDecrypt(bad)).error, 'ENVELOPE_MALFORMED')
    }
  })

  it('a wrong magic is reported as soon as the first bytes arrive', async () => {
    let pulled = 0
    async function* source() {
      pulled++
      yield Buffer.from('PK')
      pulled++
      yield randomBytes(1000)
    }
    const r = await streamDecrypt(ct, () => source())
    expectStreamError(r.error, 'ENVELOPE_MALFORMED')
    assert.equal(pulled, 1)
  })

  it('empty or header-only input is ENVELOPE_TRUNCATED', async () => {
    for (const bad of [new Uint8Array(0), ct.subarray(0, 3), ct.subarray(0, 20), ct.subarray(0, ENVELOPE_HEADER_SIZE)]) {
      expectCode(() => decryptSegment({ key, context: ctx }, bad), 'ENVELOPE_TRUNCATED')
      expectStreamError((await streamDecrypt(bad)).error, 'ENVELOPE_TRUNCATED')
    }
  })

  it('rejects bad keys, contexts and chunk sizes with INVALID_ARGUMENT', async () => {
    const pt = new Uint8Array(10)
    expectCode(() => encryptSegment({ key: key.subarray(0, 31), context: ctx }, pt), 'INVALID_ARGUMENT')
    expectCode(() => encryptSegment({ key, context: { ...ctx, datasetId: '0x1234' } }, pt), 'INVALID_ARGUMENT')
    expectCode(() => encryptSegment({ key, context: { ...ctx, segmentIndex: -1 } }, pt), 'INVALID_ARGUMENT')
    expectCode(() => encryptSegment({ key, context: { ...ctx, segmentIndex: 1.5 } }, pt), 'INVALID_ARGUMENT')
    for (const chunkSize of [0, 15, MAX_CHUNK_SIZE + 1, 100.5]) {
      expectCode(() => encryptSegment({ key, context: ctx, chunkSize }, pt), 'INVALID_ARGUMENT')
      expectCode(() => envelopeCiphertextSize(10, chunkSize), 'INVALID_ARGUMENT')
    }
    expectCode(() => decryptSegment({ key: new Uint8Array(16), context: ctx }, ct), 'INVALID_ARGUMENT')
    await assert.rejects(collect(encryptSegmentStream({ key, context: ctx }, whole(pt))).then(() => collect(decryptSegmentStream({ key: new Uint8Array(1), context: ctx }, whole(ct)))), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
  })
})
