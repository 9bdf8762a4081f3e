/**
 * A UnixFS file's bytes read straight out of a CARv1 stream, each block checked as it arrives:
 * how a worker reads a dataset segment without holding the whole segment first.
 *
 *   header   → its roots must be exactly [root], else CAR_MALFORMED;
 *   a block  → hashed and compared with its CID before any of its bytes are used
 *              (BLOCK_HASH_MISMATCH naming it); a few blocks are hashed at once, off this thread
 *              (verify-block-parts.ts), and used in CAR order as each one matches;
 *   the file → walked from the root in order: a block is used when it is the next one the file
 *              needs (root first, then each dag-pb node's links left to right: the trustless
 *              gateway's `order=dfs`, which is what makes this a stream). A block that comes early
 *              is held, checked, until its turn; the bytes of raw leaves (and any node's inline
 *              data) are yielded in file order, as views of the received pieces (no copy);
 *   the end  → a block the file needs and the CAR lacks → CAR_MALFORMED ("incomplete").
 *
 * So a yielded byte always belongs to a block that matched its CID and sits at its place in the
 * file the root names. Everything the reader keeps (the pieces of a block being read, held blocks)
 * counts toward `maxBytes` (CAR_MALFORMED past it: every failure of the data is a storage-side
 * code, none an argument error that would blame a job's analyst), and `size`, the file's length when the
 * caller knows it (a segment's manifest entry), stops a DAG that names more bytes than that
 * (MANIFEST_MALFORMED, before they are yielded) or fewer. A block the file uses twice is kept
 * while a later use is known; a CAR without duplicates (`dups=n`) still reads, unless a repeat's
 * parent only arrives after the block's last known use (never for ciphertext leaves).
 */
import * as dagPb from '@ipld/dag-pb'
import { bytesReader, readHeader } from '@ipld/car/decoder'
import { UnixFS } from 'ipfs-unixfs'
import { varint } from 'multiformats'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { W3aError, isW3aError } from '../core/errors.js'
import { DEFAULT_MAX_CAR_BYTES } from './car.js'
import { IDENTITY, MAX_BLOCK_BYTES, SHA2_256 } from './verify-block.js'
import { verifyBlockParts } from './verify-block-parts.js'

export type ReadCarFileOptions = {
  /** The file's root: the CAR's only root, and where the walk starts. */
  root: CID
  /** The file's length, if known: a DAG naming more or fewer bytes fails. */
  size?: number
  /** Refuse (CAR_MALFORMED) a CAR longer than this. Default DEFAULT_MAX_CAR_BYTES. */
  maxBytes?: number
}

/** A CAR header is a few dozen bytes (one root); anything near this is not one. */
const MAX_HEADER_BYTES = 64 * 1024
/** A CID is at most a few varints and a digest. */
const MAX_CID_BYTES = 128
/** Blocks hashed at once (on the thread pool) before the oldest must have matched: ~1 MiB of 256 KiB leaves held. */
const HASHED_AHEAD = 4

/** Streams the content of the UnixFS file `root` from a CARv1 of its DAG, checked block by block. */
export async function* readCarFile(source: Uint8Array | AsyncIterable<Uint8Array>, options: ReadCarFileOptions): AsyncGenerator<Uint8Array> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_CAR_BYTES
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new W3aError('INVALID_ARGUMENT', `maxBytes must be a positive integer, got ${maxBytes}`)
  const input = new Pieces(source instanceof Uint8Array ? [source][Symbol.iterator]() : source[Symbol.asyncIterator](), maxBytes)
  const file = new FileWalk(options.root, options.size)
  /** Blocks read and being hashed, in CAR order: each is used only once its hash matched. */
  const checking: { cid: CID; parts: Uint8Array[]; check: Promise<void> }[] = []
  async function* settle(): AsyncGenerator<Uint8Array> {
    const block = checking.shift()!
    await block.check
    yield* file.add(block.cid, block.parts)
  }
  try {
    // Header: varint(length) ‖ dag-cbor { version: 1, roots }.
    if (!(await input.fill(1))) throw malformed('The CAR is empty')
    await input.fill(10)
    const [headerLength, lengthBytes] = readVarint(input.peek(Math.min(10, input.length)))
    if (headerLength === 0 || headerLength > MAX_HEADER_BYTES) throw malformed(`The CAR header length ${headerLength} is not plausible`)
    if (!(await input.fill(lengthBytes + headerLength))) throw malformed('The CAR ends inside its header')
    const header = await readHeader(bytesReader(input.peek(lengthBytes + headerLength)), 1)
    input.skip(lengthBytes + headerLength)
    const roots = 'roots' in header ? header.roots : []
    if (roots.length !== 1 || !roots[0]!.equals(options.root)) {
      throw new W3aError('CAR_MALFORMED', 'The CAR roots are not the expected ones', {
        details: [`expected: ${options.root}`, `got: ${roots.map(String).join(', ') || '(none)'}`],
      })
    }
    // Sections: varint(length) ‖ CID ‖ block bytes.
    while (await input.fill(1)) {
      await input.fill(10)
      const [length, lengthBytes] = readVarint(input.peek(Math.min(10, input.length)))
      if (length === 0) throw malformed('The CAR has an empty section')
      if (length > MAX_BLOCK_BYTES + MAX_CID_BYTES) throw malformed(`A CAR section of ${length} bytes is over the ${MAX_BLOCK_BYTES}-byte block limit`)
      input.skip(lengthBytes)
      if (!(await input.fill(length))) throw malformed('The CAR ends inside a block')
      const head = input.peek(Math.min(length, MAX_CID_BYTES))
      let cid: CID
      let rest: Uint8Array
      try {
        ;[cid, rest] = CID.decodeFirst(head)
      } catch (cause) {
        throw new W3aError('CAR_MALFORMED', 'A CAR section does not start with a CID', { cause })
      }
      if (cid.multihash.code !== SHA2_256 && cid.multihash.code !== IDENTITY) throw malformed(`Block ${cid} uses a hash function this reader cannot check (0x${cid.multihash.code.toString(16)})`)
      input.skip(head.length - rest.length)
      const parts = input.take(length - (head.length - rest.length))
      const check = verifyBlockParts(cid, parts)
      check.catch(() => undefined) // observed when its turn comes (or dropped with a failure before it)
      checking.push({ cid, parts, check })
      if (checking.length >= HASHED_AHEAD) yield* settle()
    }
    while (checking.length > 0) yield* settle()
    file.end()
  } catch (e) {
    if (isW3aError(e)) throw e
    throw new W3aError('CAR_MALFORMED', 'The CAR could not be read', { details: [String((e as Error)?.message ?? e).split('\n')[0]!.slice(0, 300)], cause: e })
  }
}

/** The walk over the file's DAG: which block comes next, which are held, how many bytes went out. */
class FileWalk {
  /** Blocks still needed, the next one last. */
  private readonly next: CID[]
  /** Known uses left per block (a block linked twice is kept until its last one). */
  private readonly uses = new Map<string, number>()
  /** Checked blocks waiting for their turn (or for another use). */
  private readonly held = new Map<string, Uint8Array[]>()
  private emitted = 0

  constructor(root: CID, private readonly size: number | undefined) {
    this.next = [root]
    this.want(root)
  }

  /** Takes a checked block; yields the file bytes it (and the held blocks it unblocks) completes. */
  *add(cid: CID, parts: Uint8Array[]): Generator<Uint8Array> {
    const key = cid.toString()
    if (!this.held.has(key)) this.held.set(key, parts)
    for (;;) {
      const cid = this.next[this.next.length - 1]
      if (cid === undefined) return
      if (cid.multihash.code === IDENTITY) {
        this.next.pop()
        yield* this.use(cid, [cid.multihash.digest])
        continue
      }
      const key = cid.toString()
      const parts = this.held.get(key)
      if (parts === undefined) return
      this.next.pop()
      const left = this.uses.get(key)! - 1
      if (left === 0) {
        this.uses.delete(key)
        this.held.delete(key)
      } else this.uses.set(key, left)
      yield* this.use(cid, parts)
    }
  }

  /** The CAR ended: every block the file needs must have come, and every byte its manifest entry names. */
  end(): void {
    const missing = this.next[this.next.length - 1]
    if (missing !== undefined) throw malformed(`The CAR is incomplete: block ${missing} is missing`)
    if (this.size !== undefined && this.emitted !== this.size) throw wrongSize(this.size, `${this.emitted}`)
  }

  private want(cid: CID): void {
    if (cid.multihash.code === IDENTITY) return
    const key = cid.toString()
    this.uses.set(key, (this.uses.get(key) ?? 0) + 1)
  }

  private *use(cid: CID, parts: Uint8Array[]): Generator<Uint8Array> {
    if (cid.code === raw.code) {
      for (const p of parts) yield* this.emit(p)
      return
    }
    if (cid.code !== dagPb.code) throw notFile(cid, `its codec 0x${cid.code.toString(16)} is neither raw nor dag-pb`)
    let node: dagPb.PBNode
    let fs: UnixFS
    try {
      node = dagPb.decode(parts.length === 1 ? parts[0]! : Buffer.concat(parts))
      if (node.Data === undefined) throw new Error('no UnixFS data')
      fs = UnixFS.unmarshal(node.Data)
    } catch (cause) {
      throw notFile(cid, 'it does not decode as a UnixFS node', cause)
    }
    if (fs.type !== 'file' && fs.type !== 'raw') throw notFile(cid, `it is a UnixFS ${fs.type}`)
    if (fs.blockSizes.length !== node.Links.length) throw notFile(cid, `it has ${node.Links.length} links but ${fs.blockSizes.length} block sizes`)
    if (fs.data !== undefined && fs.data.length > 0) yield* this.emit(fs.data)
    for (let i = node.Links.length - 1; i >= 0; i--) {
      const link = node.Links[i]!.Hash
      this.next.push(link)
      this.want(link)
    }
  }

  private *emit(bytes: Uint8Array): Generator<Uint8Array> {
    if (bytes.length === 0) return
    this.emitted += bytes.length
    if (this.size !== undefined && this.emitted > this.size) throw wrongSize(this.size, `more than ${this.size}`)
    yield bytes
  }
}

/** The received pieces not consumed yet: pulled from the source on demand, handed out as views. */
class Pieces {
  private readonly pieces: Uint8Array[] = []
  private offset = 0
  length = 0
  private done = false
  private received = 0

  constructor(
    private readonly source: AsyncIterator<Uint8Array> | Iterator<Uint8Array>,
    private readonly maxBytes: number,
  ) {}

  /** Pulls until `n` bytes are here; false if the source ended first. */
  async fill(n: number): Promise<boolean> {
    while (this.length < n && !this.done) {
      const r = await this.source.next()
      if (r.done === true) this.done = true
      else if (r.value.length > 0) {
        this.received += r.value.length
        if (this.received > this.maxBytes) throw malformed(`The CAR is larger than the ${this.maxBytes}-byte limit for this file`)
        this.pieces.push(r.value)
        this.length += r.value.length
      }
    }
    return this.length >= n
  }

  /** A copy of the first `n` bytes (n small), not consumed. */
  peek(n: number): Uint8Array {
    const first = this.pieces[0]!
    if (first.length - this.offset >= n) return first.subarray(this.offset, this.offset + n)
    const out = new Uint8Array(n)
    let o = 0
    for (const v of this.views(n)) {
      out.set(v, o)
      o += v.length
    }
    return out
  }

  skip(n: number): void {
    this.take(n)
  }

  /** Removes `n` bytes (all here), returned as views of the pieces. */
  take(n: number): Uint8Array[] {
    const out = this.views(n)
    this.length -= n
    let left = n
    while (left > 0) {
      const avail = this.pieces[0]!.length - this.offset
      if (left >= avail) {
        this.pieces.shift()
        this.offset = 0
        left -= avail
      } else {
        this.offset += left
        left = 0
      }
    }
    return out
  }

  private views(n: number): Uint8Array[] {
    const out: Uint8Array[] = []
    let o = this.offset
    for (let i = 0; n > 0; i++) {
      const p = this.pieces[i]!
      const k = Math.min(p.length - o, n)
      out.push(p.subarray(o, o + k))
      n -= k
      o = 0
    }
    return out
  }
}

function readVarint(bytes: Uint8Array): [number, number] {
  try {
    return varint.decode(bytes)
  } catch (cause) {
    throw new W3aError('CAR_MALFORMED', 'The CAR has a malformed length prefix', { cause })
  }
}

function malformed(message: string): W3aError {
  return new W3aError('CAR_MALFORMED', message)
}

function notFile(cid: CID, why: string, cause?: unknown): W3aError {
  return new W3aError('CAR_MALFORMED', `Block ${cid} is not part of a readable UnixFS file: ${why}`, cause === undefined ? {} : { cause })
}

function wrongSize(size: number, got: string): W3aError {
  return new W3aError('MANIFEST_MALFORMED', `The file holds ${got} bytes where its manifest entry says ${size}`)
}
