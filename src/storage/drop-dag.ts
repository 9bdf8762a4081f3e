/**
 * Dropping a DAG from a storage node (a deleted dataset: its manifest, which holds the owner's
 * wrapped key, and every segment block), without touching what another DAG still needs.
 *
 * Invariants:
 * - A block is identified by its multihash, not its CID: blockstore-fs names files by
 *   multihash, so a raw and a dag-pb CID of the same bytes are one file. The keep set and the
 *   drop set are both keyed that way.
 * - A block in `keep` is never deleted (blocks shared with a live dataset stay served).
 * - Missing blocks are not an error: a node may hold part of a DAG, and a second drop of the
 *   same DAG finds nothing left and drops nothing.
 * - A block that does not decode as its codec is treated as a leaf (kept or dropped, links not
 *   followed): one malformed DAG of someone else must not stop a deletion.
 * - Raw blocks have no links, so `dagKeys` never reads them: collecting the keep set of many
 *   live datasets reads only manifests and UnixFS interior nodes.
 */
import type { Blockstore } from 'interface-blockstore'
import { base32 } from 'multiformats/bases/base32'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { isW3aError } from '../core/errors.js'
import { isNotFound, readBlock } from './blockstore.js'
import { blockLinks } from './dag-walk.js'
import { IDENTITY } from './verify-block.js'

/** The name a block has in the blockstore: base32 of its multihash. */
export function blockKey(cid: CID): string {
  return base32.encode(cid.multihash.bytes)
}

export type DropDagReturnType = {
  /** Blocks deleted from this blockstore, and their total size. */
  blocks: number
  bytes: number
  /** Blocks of the DAG left in place because another DAG (in `keep`) links them. */
  kept: number
  /** Blocks of the DAG this blockstore did not hold (already dropped, or never stored here). */
  missing: number
}

function linksOrNone(cid: CID, bytes: Uint8Array): CID[] {
  try {
    return blockLinks(cid, bytes)
  } catch (e) {
    if (isW3aError(e, 'INPUT_MALFORMED') || isW3aError(e, 'INVALID_ARGUMENT')) return []
    throw e
  }
}

async function readPresent(blockstore: Blockstore, cid: CID): Promise<Uint8Array | null> {
  try {
    return await readBlock(blockstore, cid)
  } catch (e) {
    if (isNotFound(e)) return null
    throw e
  }
}

/**
 * The keys of every block of the DAG under `root` that can be found from this blockstore
 * (present interior nodes are followed; raw leaves are listed without being read). Added to
 * `into` when given, so several roots make one set.
 */
export async function dagKeys(blockstore: Blockstore, root: CID, into: Set<string> = new Set()): Promise<Set<string>> {
  const seen = new Set<string>()
  const stack: CID[] = [root]
  while (stack.length > 0) {
    const cid = stack.pop()!
    if (cid.multihash.code === IDENTITY) continue
    const key = blockKey(cid)
    if (seen.has(key)) continue
    seen.add(key)
    into.add(key)
    if (cid.code === raw.code) continue
    const bytes = await readPresent(blockstore, cid)
    if (bytes !== null) stack.push(...linksOrNone(cid, bytes))
  }
  return into
}

/**
 * Deletes every block of the DAG under `root` from `blockstore`, except those whose key is in
 * `keep` (then their links are not followed either: a kept block's sub-DAG stays whole).
 * `seen` (shared by the drops of one request) skips blocks an earlier root already counted,
 * so a segment named after the manifest that links it is not counted missing.
 */
export async function dropDag(blockstore: Blockstore, root: CID, keep: ReadonlySet<string>, seen: Set<string> = new Set()): Promise<DropDagReturnType> {
  const out: DropDagReturnType = { blocks: 0, bytes: 0, kept: 0, missing: 0 }
  const stack: CID[] = [root]
  while (stack.length > 0) {
    const cid = stack.pop()!
    if (cid.multihash.code === IDENTITY) continue
    const key = blockKey(cid)
    if (seen.has(key)) continue
    seen.add(key)
    if (keep.has(key)) {
      out.kept++
      continue
    }
    const bytes = await readPresent(blockstore, cid)
    if (bytes === null) {
      out.missing++
      continue
    }
    // Links first (they are read from this block), then the block itself.
    stack.push(...linksOrNone(cid, bytes))
    await blockstore.delete(cid)
    out.blocks++
    out.bytes += bytes.length
  }
  return out
}
