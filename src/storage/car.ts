/**
 * CARv1 in and out: the transport for whole DAGs (uploads to a storage node, the
 * trustless gateway's `application/vnd.ipld.car` responses, `ipfs dag import/export`).
 *
 * Import is all-or-nothing: every block is hashed and checked against its CID while the
 * CAR is read, and only when the whole CAR has passed are the blocks stored. The price
 * is that a CAR is held in memory while it is checked, hence `maxBytes`.
 */
import * as CarBufferWriter from '@ipld/car/buffer-writer'
import { CarBlockIterator } from '@ipld/car/iterator'
import type { Blockstore } from 'interface-blockstore'
import { varint } from 'multiformats'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { W3aError, isW3aError } from '../core/errors.js'
import { readBlock, readForChecker } from './block-read.js'
import { blockLinks, walkDag, type Block, type DagScope } from './dag-walk.js'
import { IDENTITY, MAX_BLOCK_BYTES, verifyBlock } from './verify-block.js'

/** Default ceiling for one imported CAR: 4 dataset segments of 64 MiB with room to spare. */
export const DEFAULT_MAX_CAR_BYTES = 320 * 1024 * 1024

/** The CARv1 header naming `roots`. */
export function carHeader(roots: CID[]): Uint8Array {
  const size = CarBufferWriter.headerLength({ roots })
  return CarBufferWriter.createWriter(new ArrayBuffer(size), { roots }).close()
}

/** One CARv1 block section: varint(length) ‖ CID ‖ bytes, as two chunks (no copy of the data). */
function blockSection({ cid, bytes }: Block): [Uint8Array, Uint8Array] {
  const length = cid.bytes.length + bytes.length
  const prefix = new Uint8Array(varint.encodingLength(length) + cid.bytes.length)
  varint.encodeTo(length, prefix, 0)
  prefix.set(cid.bytes, prefix.length - cid.bytes.length)
  return [prefix, bytes]
}

export type ExportCarOptions = {
  scope?: DagScope
  signal?: AbortSignal
  /**
   * The CAR goes to a reader that checks every block against its CID (a trustless gateway's
   * client): leaves go out as stored, not hashed again (block-read.ts `readForChecker`), and a
   * few blocks are read ahead so the store's reads overlap the sending. Nodes are still checked
   * here: their links steer the walk.
   */
  forChecker?: boolean
}

/** Blocks read ahead of the one being sent, for a checking reader (a few MiB at 256 KiB leaves). */
const READ_AHEAD = 8

/**
 * Streams a CARv1 with `root` as its only root and every block of its DAG, root first
 * in depth-first order, each block once (`order=dfs; dups=n`). Blocks are read lazily,
 * so a missing child surfaces as BLOCK_NOT_FOUND mid-stream.
 */
export async function* exportCar(blockstore: Blockstore, root: CID, options: ExportCarOptions = {}): AsyncGenerator<Uint8Array> {
  yield carHeader([root])
  const { scope, signal } = options
  const walk = options.forChecker
    ? walkDag(blockstore, root, {
        ...(scope ? { scope } : {}),
        ...(signal ? { signal } : {}),
        read: (cid) => (cid.code === raw.code ? readForChecker(blockstore, cid, { signal }) : readBlock(blockstore, cid, { signal })),
        readAhead: READ_AHEAD,
      })
    : walkDag(blockstore, root, { ...(scope ? { scope } : {}), ...(signal ? { signal } : {}) })
  for await (const block of walk) {
    yield* blockSection(block)
  }
}

export type ImportCarOptions = {
  /** Refuse (INVALID_ARGUMENT) a CAR longer than this. Default DEFAULT_MAX_CAR_BYTES. */
  maxBytes?: number
  /** The CAR's header roots must be exactly these (any order), else CAR_MALFORMED. */
  expectedRoots?: CID[]
  /** Every block reachable from the roots must be in the CAR or already stored, else CAR_MALFORMED. */
  requireComplete?: boolean
}

/**
 * Checks every block of a CARv1 against its CID, then stores them all. Returns the
 * header roots, the number of blocks and the number of block bytes (data only).
 * A block that does not match → BLOCK_HASH_MISMATCH naming it, and nothing is stored.
 */
export async function importCar(
  blockstore: Blockstore,
  source: Uint8Array | AsyncIterable<Uint8Array>,
  options: ImportCarOptions = {},
): Promise<{ roots: CID[]; blocks: number; bytes: number }> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_CAR_BYTES
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new W3aError('INVALID_ARGUMENT', `maxBytes must be a positive integer, got ${maxBytes}`)
  }
  const blocks = new Map<string, Block>()
  let roots: CID[]
  let bytes = 0
  try {
    const reader = await CarBlockIterator.fromIterable(limited(source, maxBytes))
    if (reader.version !== 1) throw new W3aError('CAR_MALFORMED', `Only CARv1 is accepted, got CARv${reader.version}`)
    roots = await reader.getRoots()
    for await (const block of reader) {
      if (block.bytes.length > MAX_BLOCK_BYTES) {
        throw new W3aError('CAR_MALFORMED', `Block ${block.cid} is ${block.bytes.length} bytes, over the ${MAX_BLOCK_BYTES}-byte block limit`)
      }
      await verifyBlock(block.cid, block.bytes)
      const key = block.cid.toString()
      if (!blocks.has(key)) {
        blocks.set(key, { cid: block.cid, bytes: block.bytes })
        bytes += block.bytes.length
      }
    }
  } catch (e) {
    if (isW3aError(e)) throw e
    throw new W3aError('CAR_MALFORMED', 'The CAR could not be read', { details: [String((e as Error)?.message ?? e)], cause: e })
  }

  if (options.expectedRoots !== undefined) {
    const got = new Set(roots.map(String))
    const want = new Set(options.expectedRoots.map(String))
    if (got.size !== want.size || [...want].some((r) => !got.has(r))) {
      throw new W3aError('CAR_MALFORMED', 'The CAR roots are not the expected ones', {
        details: [`expected: ${[...want].join(', ') || '(none)'}`, `got: ${[...got].join(', ') || '(none)'}`],
      })
    }
  }
  if (options.requireComplete === true) await checkComplete(blockstore, roots, blocks)

  // All or nothing also when the store fails midway (disk full): blocks this CAR added go again.
  const fresh: Block[] = []
  for (const block of blocks.values()) if (!(await blockstore.has(block.cid))) fresh.push(block)
  try {
    for await (const _ of blockstore.putMany(fresh)) {
      // drain: putMany is lazy
    }
  } catch (e) {
    for (const block of fresh) await Promise.resolve(blockstore.delete(block.cid)).catch(() => undefined)
    throw e
  }
  return { roots, blocks: blocks.size, bytes }
}

/** Passes `source` through, failing with INVALID_ARGUMENT once more than `maxBytes` went by. */
async function* limited(source: Uint8Array | AsyncIterable<Uint8Array>, maxBytes: number): AsyncGenerator<Uint8Array> {
  const tooBig = () => new W3aError('INVALID_ARGUMENT', `The CAR is larger than the ${maxBytes}-byte limit`)
  if (source instanceof Uint8Array) {
    if (source.length > maxBytes) throw tooBig()
    yield source
    return
  }
  let total = 0
  for await (const chunk of source) {
    total += chunk.length
    if (total > maxBytes) throw tooBig()
    yield chunk
  }
}

/** Every link reachable from the roots resolves to a block in the CAR or in the store. */
async function checkComplete(blockstore: Blockstore, roots: CID[], blocks: Map<string, Block>): Promise<void> {
  const seen = new Set<string>()
  const stack = [...roots]
  while (stack.length > 0) {
    const cid = stack.pop()!
    const key = cid.toString()
    if (seen.has(key) || cid.multihash.code === IDENTITY) continue
    seen.add(key)
    const block = blocks.get(key)
    if (block !== undefined) {
      stack.push(...blockLinks(cid, block.bytes))
    } else if (!(await blockstore.has(cid))) {
      throw new W3aError('CAR_MALFORMED', `The CAR is incomplete: block ${cid} is missing`)
    }
    // A block already stored is trusted to have its own children stored (we only store whole DAGs).
  }
}
