/**
 * Segment envelope: AES-256-GCM over fixed-size chunks, with a versioned header.
 * Byte layout, key derivation, nonce and AAD are specified in docs/formats.md
 * ("Segment envelope"); keep the two in step.
 *
 *   header  = "W3AE" | version u8 | 3 zero bytes | chunkSize u32 BE | salt[32]      (44 bytes)
 *   chunk i = AES-256-GCM(subkey, nonce_i, aad_i, plaintext_i) | tag[16]
 *   subkey  = HKDF-SHA256(ikm = DEK, salt, info = "w3a/envelope/v1/aes-256-gcm", 32)
 *   nonce_i = 00000000 | i u64 BE
 *   aad_i   = header | datasetId[32] | segmentIndex u64 BE | i u64 BE | final u8
 *
 * Every chunk but the last holds exactly chunkSize plaintext bytes; the last one
 * (flagged final in its AAD) holds 0..chunkSize. Nothing in the ciphertext marks the
 * last chunk: a reader knows it by position, and the AAD flag makes that position
 * authentic, so cutting the stream at a chunk boundary cannot pass for a complete one.
 *
 * Writers use 1 MiB chunks by default (envelopes written with the earlier 64 KiB default
 * carry that size in their header and read the same way): per-chunk cipher setup, tags
 * and the UnixFS leaves that straddle a tag are then rare.
 */
import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  getRandomValues,
  hkdfSync,
  type CipherGCM as Cipher,
  type DecipherGCM as Decipher,
  type KeyObject,
} from 'node:crypto'
import { W3aError } from '../core/errors.js'
import {
  checkChunkSize,
  checkKeyAndContext,
  ENVELOPE_HEADER_SIZE,
  ENVELOPE_TAG_SIZE,
  ENVELOPE_VERSION,
  DEFAULT_CHUNK_SIZE,
  envelopeCiphertextSize,
  invalid,
  KDF_INFO,
  MAGIC,
  makeHeader,
  MAX_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  SALT_OFFSET,
  SALT_SIZE,
  segmentAad,
  setAadChunk,
  type EnvelopeContext,
} from './envelope-format.js'

export {
  ENVELOPE_VERSION,
  DEFAULT_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  MAX_CHUNK_SIZE,
  ENVELOPE_HEADER_SIZE,
  ENVELOPE_TAG_SIZE,
  envelopeCiphertextSize,
  type EnvelopeContext,
} from './envelope-format.js'

/**
 * Size of the pieces `encryptSegmentStream` yields: the UnixFS leaf size (`ipfs add`
 * chunks, UNIXFS_CHUNK_SIZE in storage/unixfs.ts), so an importer takes them as they come.
 */
export const ENVELOPE_STREAM_PIECE_SIZE = 256 * 1024

/**
 * Most bytes handed to one cipher update. Each update returns a freshly allocated buffer,
 * and big ones come as fresh pages from the kernel: measured here, 4 MiB updates ran ~1.5×
 * slower than 1 MiB ones (the page faults cost more than the AES); smaller ones add calls.
 */
const MAX_UPDATE = 1024 * 1024

type EncryptParams = { key: Uint8Array; context: EnvelopeContext; chunkSize?: number }
export type EncryptStreamParams = EncryptParams & {
  /** Size of the yielded pieces (default ENVELOPE_STREAM_PIECE_SIZE, the UnixFS leaf size). */
  pieceSize?: number
}
type DecryptParams = { key: Uint8Array; context: EnvelopeContext }

export function generateDatasetKey(): Uint8Array {
  return getRandomValues(new Uint8Array(32)) // its own memory, not a slice of Buffer's shared pool
}

export function encryptSegment(params: EncryptParams, plaintext: Uint8Array): Uint8Array {
  const chunkSize = params.chunkSize ?? DEFAULT_CHUNK_SIZE
  const header = makeHeader(chunkSize)
  const cipher = new ChunkCipher(params.key, params.context, header)
  const total = checkPiece(plaintext).length
  // Unpooled: callers own the whole ArrayBuffer behind the result.
  const out = Buffer.allocUnsafeSlow(envelopeCiphertextSize(total, chunkSize))
  out.set(header, 0)
  let o = ENVELOPE_HEADER_SIZE
  let index = 0
  let p = 0
  do {
    const end = Math.min(total, p + chunkSize)
    o = cipher.sealInto(index, end === total, plaintext.subarray(p, end), out, o)
    p = end
    index++
  } while (p < total)
  return out
}

export function decryptSegment(params: DecryptParams, ciphertext: Uint8Array): Uint8Array {
  checkKeyAndContext(params.key, params.context)
  const header = parseHeader(checkPiece(ciphertext))
  const { chunkSize } = header
  const cipher = new ChunkCipher(params.key, params.context, header.bytes)
  const body = ciphertext.subarray(ENVELOPE_HEADER_SIZE)
  const record = chunkSize + ENVELOPE_TAG_SIZE
  // Same split as the stream reader: a full record followed by more bytes is non-final.
  const nonFinal = body.length > record ? Math.floor((body.length - 1) / record) : 0
  const lastLen = body.length - nonFinal * record
  const out = Buffer.allocUnsafeSlow(nonFinal * chunkSize + Math.max(0, lastLen - ENVELOPE_TAG_SIZE))
  try {
    let i = 0
    for (; i < nonFinal; i++) {
      const r = body.subarray(i * record, (i + 1) * record)
      cipher.openInto(i, false, r.subarray(0, chunkSize), r.subarray(chunkSize), out, i * chunkSize)
    }
    if (lastLen < ENVELOPE_TAG_SIZE) throw truncated(i, body.length === 0 ? 'no chunk after the header' : 'stream ends inside a chunk')
    const r = body.subarray(nonFinal * record)
    cipher.openInto(i, true, r.subarray(0, lastLen - ENVELOPE_TAG_SIZE), r.subarray(lastLen - ENVELOPE_TAG_SIZE), out, nonFinal * chunkSize)
  } catch (e) {
    out.fill(0) // a rejected segment leaves none of its plaintext behind
    throw e
  }
  return out
}

/**
 * Streaming encryption. Yields the envelope in pieces of exactly `pieceSize` bytes (the last
 * one may be shorter), cut at multiples of `pieceSize` from the start of the envelope. With
 * the default (256 KiB) each piece is one UnixFS leaf, so `importBytes` stores the pieces
 * as they come, without joining or copying them. A piece that lies inside one chunk's
 * ciphertext is a view of the cipher's output (disjoint from every other piece); only the
 * few that span a header, tag or chunk boundary are assembled, each in a buffer of its own.
 * Pieces are never reused: the consumer may keep them. Source pieces are read in place, not
 * copied: do not reuse them.
 */
export async function* encryptSegmentStream(params: EncryptStreamParams, source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const chunkSize = params.chunkSize ?? DEFAULT_CHUNK_SIZE
  const pieceSize = params.pieceSize ?? ENVELOPE_STREAM_PIECE_SIZE
  if (!Number.isSafeInteger(pieceSize) || pieceSize < 1) throw invalid(`piece size must be a positive integer, got ${pieceSize}`)
  const header = makeHeader(chunkSize)
  const cipher = new ChunkCipher(params.key, params.context, header)
  const out = new PieceWriter(pieceSize)
  yield* out.write(header)
  const queue = new ByteQueue()
  let index = 0
  for await (const piece of source) {
    queue.push(checkPiece(piece))
    // A chunk is sealed only once a byte beyond it is seen: only then is it known not to be final.
    while (queue.length > chunkSize) yield* cipher.seal(index++, false, queue.take(chunkSize), out)
  }
  yield* cipher.seal(index, true, queue.take(queue.length), out)
  yield* out.end()
}

/**
 * Streaming decryption over arbitrarily sliced input. A chunk's plaintext is yielded only
 * after its tag verified; the stream fails with ENVELOPE_TRUNCATED if it ends before an
 * authenticated final chunk, and rejects bytes after the final chunk. Source pieces are
 * read in place, not copied: do not reuse them.
 */
export async function* decryptSegmentStream(params: DecryptParams, source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  checkKeyAndContext(params.key, params.context)
  const queue = new ByteQueue()
  let cipher: ChunkCipher | undefined
  let record = 0
  let chunkSize = 0
  let index = 0
  const tag = new Uint8Array(ENVELOPE_TAG_SIZE)
  for await (const piece of source) {
    queue.push(checkPiece(piece))
    if (cipher === undefined) {
      if (queue.length < ENVELOPE_HEADER_SIZE) {
        checkMagicPrefix(queue.peek(Math.min(queue.length, MAGIC.length)))
        continue
      }
      const header = parseHeader(queue.takeCopy(ENVELOPE_HEADER_SIZE))
      chunkSize = header.chunkSize
      record = chunkSize + ENVELOPE_TAG_SIZE
      cipher = new ChunkCipher(params.key, params.context, header.bytes)
    }
    while (queue.length > record) {
      const body = queue.take(chunkSize)
      queue.takeInto(ENVELOPE_TAG_SIZE, tag)
      yield* cipher.open(index++, false, body, tag)
    }
  }
  if (cipher === undefined) {
    if (queue.length === 0) throw truncated(0, 'empty input')
    checkMagicPrefix(queue.peek(Math.min(queue.length, MAGIC.length)))
    throw truncated(0, 'stream ends inside the header')
  }
  if (queue.length < ENVELOPE_TAG_SIZE) throw truncated(index, queue.length === 0 && index === 0 ? 'no chunk after the header' : 'stream ends inside a chunk')
  const body = queue.take(queue.length - ENVELOPE_TAG_SIZE)
  queue.takeInto(ENVELOPE_TAG_SIZE, tag)
  yield* cipher.open(index, true, body, tag)
}

/** Per-segment AES-GCM state: the derived subkey and the AAD/nonce buffers rewritten per chunk. */
class ChunkCipher {
  private readonly key: KeyObject
  private readonly aad: Uint8Array
  private readonly nonce = new Uint8Array(12)

  constructor(dek: Uint8Array, context: EnvelopeContext, header: Uint8Array) {
    checkKeyAndContext(dek, context)
    const salt = header.subarray(SALT_OFFSET, SALT_OFFSET + SALT_SIZE)
    this.key = createSecretKey(Buffer.from(hkdfSync('sha256', dek, salt, KDF_INFO, 32)))
    this.aad = segmentAad(header, context)
  }

  private select(index: number, final: boolean): void {
    setAadChunk(this.aad, this.nonce, index, final)
  }

  private cipher(index: number, final: boolean): Cipher {
    this.select(index, final)
    const c = createCipheriv('aes-256-gcm', this.key, this.nonce, { authTagLength: ENVELOPE_TAG_SIZE })
    c.setAAD(this.aad)
    return c
  }

  private decipher(index: number, final: boolean, tag: Uint8Array): Decipher {
    this.select(index, final)
    const d = createDecipheriv('aes-256-gcm', this.key, this.nonce, { authTagLength: ENVELOPE_TAG_SIZE })
    d.setAAD(this.aad)
    d.setAuthTag(tag)
    return d
  }

  /** Whole-buffer path: encrypts one chunk straight into `out` at `offset`; returns the new offset. */
  sealInto(index: number, final: boolean, plaintext: Uint8Array, out: Buffer, offset: number): number {
    const c = this.cipher(index, final)
    for (let p = 0; p < plaintext.length; p += MAX_UPDATE) {
      const ct = c.update(plaintext.subarray(p, p + MAX_UPDATE))
      out.set(ct, offset)
      offset += ct.length
    }
    c.final()
    out.set(c.getAuthTag(), offset)
    return offset + ENVELOPE_TAG_SIZE
  }

  /** Stream path: encrypts one chunk (its plaintext in consecutive parts) into `out`; yields the pieces that completes. */
  *seal(index: number, final: boolean, parts: Uint8Array[], out: PieceWriter): Generator<Uint8Array> {
    const c = this.cipher(index, final)
    for (const part of parts) {
      for (let p = 0; p < part.length; p += MAX_UPDATE) yield* out.write(c.update(part.length <= MAX_UPDATE ? part : part.subarray(p, p + MAX_UPDATE)))
    }
    c.final()
    yield* out.write(c.getAuthTag())
  }

  /**
   * Whole-buffer path: decrypts one chunk straight into `out` at `offset` and verifies it.
   * On failure the chunk's plaintext is wiped (from `out` and the cipher's buffers) before
   * the error is thrown.
   */
  openInto(index: number, final: boolean, ct: Uint8Array, tag: Uint8Array, out: Buffer, offset: number): void {
    const d = this.decipher(index, final, tag)
    const pt: Buffer[] = []
    let o = offset
    for (let p = 0; p < ct.length; p += MAX_UPDATE) {
      const b = d.update(ct.subarray(p, p + MAX_UPDATE))
      out.set(b, o)
      o += b.length
      pt.push(b)
    }
    try {
      d.final()
    } catch {
      for (const b of pt) b.fill(0)
      out.fill(0, offset, o)
      this.fail(index, final, [ct], tag)
    }
  }

  *open(index: number, final: boolean, parts: Uint8Array[], tag: Uint8Array): Generator<Uint8Array> {
    const pt = this.tryOpen(index, final, parts, tag)
    if (pt === undefined) this.fail(index, final, parts, tag)
    yield* pt
  }

  /** Decrypts and verifies; returns the plaintext pieces, or undefined if the tag does not verify. */
  private tryOpen(index: number, final: boolean, parts: Uint8Array[], tag: Uint8Array): Buffer[] | undefined {
    const d = this.decipher(index, final, tag)
    const pt: Buffer[] = []
    for (const part of parts) {
      for (let p = 0; p < part.length; p += MAX_UPDATE) {
        const b = d.update(part.length <= MAX_UPDATE ? part : part.subarray(p, p + MAX_UPDATE))
        if (b.length > 0) pt.push(b)
      }
    }
    try {
      d.final()
    } catch {
      for (const b of pt) b.fill(0)
      return undefined
    }
    return pt
  }

  /** A chunk failed: say why as precisely as the other flag value allows, then throw. */
  private fail(index: number, final: boolean, parts: Uint8Array[], tag: Uint8Array): never {
    const other = this.tryOpen(index, !final, parts, tag)
    if (other !== undefined) {
      for (const b of other) b.fill(0)
      // Authentic as a non-final chunk but the input stops here: chunks were dropped.
      if (final) throw truncated(index + 1, `chunk ${index} is authentic but not the final chunk`)
      // Authentic as the final chunk but more bytes follow it.
      throw new W3aError('ENVELOPE_MALFORMED', 'Encrypted segment has bytes after its final chunk', {
        details: [`final chunk: ${index}`],
      })
    }
    throw new W3aError('ENVELOPE_AUTH_FAILED', 'Encrypted segment failed authentication (wrong key, wrong dataset/segment, or tampered data)', {
      details: [`chunk: ${index}`],
    })
  }
}

/**
 * Cuts a byte stream into pieces of `size` bytes at fixed offsets. A write that covers a
 * whole piece is passed on as a view (no copy); bytes of a piece that spans several writes
 * are gathered into a fresh buffer of its own. Nothing is ever reused, so every piece it
 * yields stays valid for as long as the consumer keeps it.
 */
class PieceWriter {
  private buf: Buffer | undefined
  private fill = 0

  constructor(private readonly size: number) {}

  /** Takes `bytes` (read now, or kept as views: do not modify them later); yields the pieces completed. */
  *write(bytes: Uint8Array): Generator<Uint8Array> {
    const size = this.size
    const n = bytes.length
    let o = 0
    while (o < n) {
      if (this.fill === 0 && n - o >= size) {
        yield bytes.subarray(o, o + size)
        o += size
        continue
      }
      const k = Math.min(size - this.fill, n - o)
      // Not zero-filled: a piece is only handed out once every byte of it is written.
      this.buf ??= Buffer.allocUnsafeSlow(size)
      this.buf.set(o === 0 && k === n ? bytes : bytes.subarray(o, o + k), this.fill)
      this.fill += k
      o += k
      if (this.fill === size) {
        yield this.buf
        this.buf = undefined
        this.fill = 0
      }
    }
  }

  /** The last, partial piece, copied to its exact size (it may be far smaller than a piece). */
  *end(): Generator<Uint8Array> {
    if (this.buf !== undefined && this.fill > 0) yield new Uint8Array(this.buf.subarray(0, this.fill))
    this.buf = undefined
    this.fill = 0
  }
}

/** Below this average size, the views `ByteQueue.take` returns are joined into one buffer. */
const MIN_VIEW_BYTES = 4096

/** FIFO of input pieces; hands out views without copying where a request fits in one piece. */
class ByteQueue {
  private pieces: Uint8Array[] = []
  private head = 0
  private offset = 0
  length = 0

  push(p: Uint8Array): void {
    if (p.length === 0) return
    this.pieces.push(p)
    this.length += p.length
  }

  /** Removes n bytes, returned as views into the input; many tiny pieces are joined into one. */
  take(n: number): Uint8Array[] {
    const n0 = n
    const out: Uint8Array[] = []
    this.length -= n
    while (n > 0) {
      const p = this.pieces[this.head]!
      const avail = p.length - this.offset
      const k = Math.min(avail, n)
      out.push(p.subarray(this.offset, this.offset + k))
      n -= k
      if (k === avail) {
        this.head++
        this.offset = 0
      } else this.offset += k
    }
    if (this.head > 1024) {
      this.pieces = this.pieces.slice(this.head)
      this.head = 0
    }
    // Bounds the per-chunk update calls when the input arrives in tiny slices; network-sized
    // pieces (16-64 KiB) stay views: joining them cost a copy of every byte and its garbage.
    return out.length > 16 && n0 < out.length * MIN_VIEW_BYTES ? [Buffer.concat(out)] : out
  }

  takeInto(n: number, dst: Uint8Array): void {
    let o = 0
    for (const v of this.take(n)) {
      dst.set(v, o)
      o += v.length
    }
  }

  takeCopy(n: number): Uint8Array {
    const dst = new Uint8Array(n)
    this.takeInto(n, dst)
    return dst
  }

  /** First n bytes, copied, without consuming them. */
  peek(n: number): Uint8Array {
    const dst = new Uint8Array(n)
    let o = 0
    for (let i = this.head, off = this.offset; o < n; i++, off = 0) {
      const p = this.pieces[i]!
      const k = Math.min(p.length - off, n - o)
      dst.set(p.subarray(off, off + k), o)
      o += k
    }
    return dst
  }
}

function parseHeader(bytes: Uint8Array): { bytes: Uint8Array; chunkSize: number } {
  checkMagicPrefix(bytes.subarray(0, Math.min(bytes.length, MAGIC.length)))
  if (bytes.length < ENVELOPE_HEADER_SIZE) throw truncated(0, bytes.length === 0 ? 'empty input' : 'stream ends inside the header')
  const h = bytes.subarray(0, ENVELOPE_HEADER_SIZE)
  if (h[4] !== ENVELOPE_VERSION) throw malformed(`unsupported envelope version ${h[4]} (this build reads version ${ENVELOPE_VERSION})`)
  if (h[5] !== 0 || h[6] !== 0 || h[7] !== 0) throw malformed('reserved header bytes are not zero')
  const chunkSize = new DataView(h.buffer, h.byteOffset, h.byteLength).getUint32(8)
  if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) throw malformed(`chunk size ${chunkSize} is outside ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE}`)
  return { bytes: h, chunkSize }
}

function checkMagicPrefix(prefix: Uint8Array): void {
  for (let i = 0; i < prefix.length; i++) {
    if (prefix[i] !== MAGIC[i]) throw malformed('not a W3A segment envelope (bad magic bytes)')
  }
}

function checkPiece(piece: unknown): Uint8Array {
  if (!(piece instanceof Uint8Array)) throw invalid('data must be a Uint8Array')
  return piece
}

function malformed(detail: string): W3aError {
  return new W3aError('ENVELOPE_MALFORMED', 'Encrypted segment is malformed', { details: [detail] })
}

function truncated(chunk: number, detail: string): W3aError {
  return new W3aError('ENVELOPE_TRUNCATED', 'Encrypted segment is truncated (it ends before its final chunk)', {
    details: [detail, `next expected chunk: ${chunk}`],
  })
}
