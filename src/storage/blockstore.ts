/**
 * Where blocks live: a blockstore-fs directory on disk (or memory in tests), wrapped so
 * that a block read back from disk is always checked against its CID.
 *
 * Why the wrapper: blockstore-fs writes each block to `.{name}.tmp` and renames it into
 * place (via steno), so a crashed process never leaves a half-written block under its
 * real name. But (1) it never fsyncs, so after a power loss the renamed file can be
 * empty or short, and (2) the temp name is the same for every writer of a block, so two
 * concurrent puts of the same block in one process can interleave (one truncates the
 * file the other has just renamed). Both are closed here: puts of the same block are
 * coalesced and skipped when the block is already present, and every `get` hashes the
 * bytes; a block that fails is deleted (so the next put or peer fetch can repair it)
 * and reported as BLOCK_HASH_MISMATCH, never returned.
 *
 * Reads take a block file in one `readFile` (one buffer, no stream of 64 KiB pieces to join).
 * `getStored` hands a block out unhashed, for a reader that checks every block itself (the
 * trustless gateway's CAR export: its client hashes each block against its CID; see car.ts).
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FsBlockstore } from 'blockstore-fs'
import { NextToLast } from 'blockstore-fs/sharding'
import type { Blockstore, InputPair, Pair } from 'interface-blockstore'
import { base32 } from 'multiformats/bases/base32'
import type { CID } from 'multiformats/cid'
import { W3aError, isW3aError } from '../core/errors.js'
import { verifyBlock } from './verify-block.js'
import { collectBytes, type StoredBlocks } from './block-read.js'

export { createMemoryBlockstore, isNotFound, collectBytes, readBlock } from './block-read.js'

type AbortOptions = { signal?: AbortSignal }
type BlockBytes = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>

/** Opens (creating if needed) a persistent blockstore in `dir`. Reads are hash-checked. */
export async function openBlockstore(dir: string): Promise<Blockstore> {
  // blockstore-fs's default layout, named here so that reads can find a block's file themselves.
  const sharding = new NextToLast()
  const store = new FsBlockstore(dir, { shardingStrategy: sharding })
  try {
    await store.open()
  } catch (cause) {
    throw new W3aError('INVALID_ARGUMENT', `Cannot open blockstore directory ${dir}`, {
      details: [String((cause as Error)?.message ?? cause)],
      cause,
    })
  }
  return new CheckedBlockstore(store, (cid) => {
    const { dir: shard, file } = sharding.encode(cid)
    return join(store.path, shard, file)
  })
}

/** blockstore-fs with hash-checked reads and coalesced writes (see the file comment). */
class CheckedBlockstore implements Blockstore, StoredBlocks {
  readonly #inner: Blockstore
  readonly #fileOf: (cid: CID) => string
  readonly #writing = new Map<string, Promise<CID>>()

  constructor(inner: Blockstore, fileOf: (cid: CID) => string) {
    this.#inner = inner
    this.#fileOf = fileOf
  }

  async has(key: CID, options?: AbortOptions): Promise<boolean> {
    return this.#inner.has(key, options)
  }

  put(key: CID, val: BlockBytes, options?: AbortOptions): Promise<CID> {
    // Files are named by multihash, so the multihash is the identity of a write.
    const id = base32.encode(key.multihash.bytes)
    const pending = this.#writing.get(id)
    if (pending !== undefined) return pending.then(() => key)
    const write = (async () => {
      // Content-addressed: a block already present holds these very bytes (reads check it).
      if (await this.#inner.has(key, options)) return key
      await this.#inner.put(key, val, options)
      return key
    })().finally(() => this.#writing.delete(id))
    this.#writing.set(id, write)
    return write
  }

  async *putMany(source: Iterable<InputPair> | AsyncIterable<InputPair>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const { cid, bytes } of source) {
      yield await this.put(cid, bytes, options)
    }
  }

  async *get(key: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    yield await this.#checked(key, await this.getStored(key, options), options)
  }

  /** The block's file as stored, not hashed: only for a reader that checks it against its CID itself. */
  async getStored(key: CID, options?: AbortOptions): Promise<Uint8Array> {
    let bytes: Buffer
    try {
      bytes = await readFile(this.#fileOf(key), options?.signal ? { signal: options.signal } : {})
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException)?.code === 'ENOENT') throw new W3aError('BLOCK_NOT_FOUND', `Block ${key} is not in the blockstore`, { cause })
      throw cause
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  async *getMany(source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const cid of source) {
      yield { cid, bytes: this.get(cid, options) }
    }
  }

  async delete(key: CID, options?: AbortOptions): Promise<void> {
    await this.#inner.delete(key, options)
  }

  async *deleteMany(source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const cid of source) {
      await this.delete(cid, options)
      yield cid
    }
  }

  async *getAll(options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const { cid, bytes } of this.#inner.getAll(options)) {
      const checked = this.#checked(cid, bytes, options)
      yield { cid, bytes: (async function* () { yield await checked })() }
    }
  }

  async #checked(key: CID, source: BlockBytes, options?: AbortOptions): Promise<Uint8Array> {
    const bytes = await collectBytes(source)
    try {
      await verifyBlock(key, bytes)
    } catch (e) {
      if (isW3aError(e, 'BLOCK_HASH_MISMATCH')) {
        // A torn or corrupted file: drop it so a later put / peer fetch can heal it.
        try {
          await this.#inner.delete(key, options)
        } catch {
          // best effort: the read still fails below
        }
        throw new W3aError('BLOCK_HASH_MISMATCH', `Stored block ${key} is corrupt (removed from the blockstore)`, {
          details: ['The file on disk does not hash to its CID; fetch the block again from a peer.'],
          cause: e,
        })
      }
      throw e
    }
    return bytes
  }
}
