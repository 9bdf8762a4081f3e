/**
 * Reading blocks from any blockstore, and the in-memory one: no file system on this path, so
 * the browser's upload (the dashboard) imports it too. The on-disk store is blockstore.ts.
 */
import { MemoryBlockstore } from 'blockstore-core/memory'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import { W3aError, isW3aError } from '../core/errors.js'
import { IDENTITY } from './verify-block.js'

type AbortOptions = { signal?: AbortSignal }
type BlockBytes = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>

/** An in-memory blockstore (tests, short-lived staging). */
export function createMemoryBlockstore(): Blockstore {
  return new MemoryBlockstore()
}

/** True for "this block is not here", whichever layer said it. */
export function isNotFound(e: unknown): boolean {
  if (isW3aError(e)) return e.code === 'BLOCK_NOT_FOUND'
  return (e as { name?: string } | undefined)?.name === 'NotFoundError'
}

/**
 * Joins a block's chunks (v7 blockstores return a generator of chunks) into one plain
 * Uint8Array (fs reads yield Buffers; a zero-copy view hides that from callers).
 */
export async function collectBytes(source: BlockBytes): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return plain(source)
  const parts: Uint8Array[] = []
  let length = 0
  for await (const part of source) {
    parts.push(part)
    length += part.length
  }
  if (parts.length === 1) return plain(parts[0]!)
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

function plain(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * A store whose blocks were each checked against their CID when they went in, and that can hand
 * one out as stored, unhashed: for a reader that checks every block itself (blockstore.ts).
 */
export type StoredBlocks = { getStored(cid: CID, options?: AbortOptions): Promise<Uint8Array> }

/**
 * A block for a reader that checks it against its CID itself (a CAR's client): as stored when the
 * store can (no second hash on the way out), else through `readBlock`.
 */
export function readForChecker(blockstore: Blockstore, cid: CID, options?: AbortOptions): Promise<Uint8Array> {
  const stored = (blockstore as Partial<StoredBlocks>).getStored
  if (cid.multihash.code === IDENTITY || typeof stored !== 'function') return readBlock(blockstore, cid, options)
  return stored.call(blockstore, cid, options)
}

/**
 * The bytes of one block as a single array. Identity CIDs carry their bytes inline and
 * never touch the store. A missing block → W3aError BLOCK_NOT_FOUND.
 */
export async function readBlock(blockstore: Blockstore, cid: CID, options?: AbortOptions): Promise<Uint8Array> {
  if (cid.multihash.code === IDENTITY) return cid.multihash.digest
  try {
    return await collectBytes(blockstore.get(cid, options))
  } catch (e) {
    if (isNotFound(e) && !isW3aError(e)) {
      throw new W3aError('BLOCK_NOT_FOUND', `Block ${cid} is not in the blockstore`, { cause: e })
    }
    throw e
  }
}
