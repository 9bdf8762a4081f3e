/**
 * Bytes ⇄ UnixFS file DAGs, with the settings of `ipfs add --cid-version=1 --raw-leaves`
 * in Kubo (the `unixfs-v0-2015` shape with CIDv1 + raw leaves): fixed 256 KiB chunks,
 * balanced layout with at most 174 links a node, a single-chunk file is its raw leaf.
 * Same bytes → same CID as Kubo, so any IPFS node can serve or check our data.
 */
import type { Blockstore } from 'interface-blockstore'
import { exporter } from 'ipfs-unixfs-exporter'
import { importByteStream, type ImporterOptions } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import type { CID } from 'multiformats/cid'
import { W3aError, isW3aError } from '../core/errors.js'
import { isNotFound } from './block-read.js'
import { walkDag } from './dag-walk.js'
import { pipelinedRawLeaves } from './leaf-pipeline.js'

export const UNIXFS_CHUNK_SIZE = 256 * 1024
export const UNIXFS_MAX_LINKS = 174

/** Fresh options each time: the importer writes into the object it is given. */
function kuboOptions(): ImporterOptions {
  return {
    cidVersion: 1,
    rawLeaves: true,
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize: UNIXFS_CHUNK_SIZE }),
    layout: balanced({ maxChildrenPerNode: UNIXFS_MAX_LINKS }),
    // Same leaves and CIDs as the stock stage, with source, hashing and writes overlapped.
    bufferImporter: pipelinedRawLeaves,
  }
}

/**
 * Stores `source` as a UnixFS file and returns its root CID and `size`, the number of
 * content bytes imported (not the DAG's encoded size). Pieces of exactly UNIXFS_CHUNK_SIZE
 * bytes (or whole multiples), cut from the start of the stream, become leaves as they are,
 * without being joined or copied: `encryptSegmentStream` yields its envelope that way.
 */
export async function importBytes(
  blockstore: Blockstore,
  source: Uint8Array | AsyncIterable<Uint8Array>,
): Promise<{ cid: CID; size: number }> {
  let size = 0
  async function* counted(): AsyncGenerator<Uint8Array> {
    if (source instanceof Uint8Array) {
      size = source.length
      yield source
      return
    }
    for await (const chunk of source) {
      size += chunk.length
      yield chunk
    }
  }
  const { cid } = await importByteStream(counted(), blockstore, kuboOptions())
  return { cid, size }
}

/** Streams the content of the UnixFS file (or raw block) at `cid`. */
export async function* exportBytes(blockstore: Blockstore, cid: CID): AsyncGenerator<Uint8Array> {
  try {
    const entry = await exporter(cid, blockstore)
    if (entry.type !== 'file' && entry.type !== 'raw' && entry.type !== 'identity') {
      throw new W3aError('INVALID_ARGUMENT', `${cid} is a UnixFS ${entry.type}, not a file`)
    }
    yield* entry.content()
  } catch (e) {
    if (isW3aError(e)) throw e
    if (isNotFound(e)) throw new W3aError('BLOCK_NOT_FOUND', `A block of ${cid} is missing`, { details: [String((e as Error).message)], cause: e })
    throw new W3aError('INPUT_MALFORMED', `${cid} is not a readable UnixFS file`, { details: [String((e as Error)?.message ?? e)], cause: e })
  }
}

/** Every CID of the DAG under `root` (root first, depth-first): what to pin or put in a CAR. */
export async function collectDagCids(blockstore: Blockstore, root: CID): Promise<CID[]> {
  const cids: CID[] = []
  for await (const { cid } of walkDag(blockstore, root)) cids.push(cid)
  return cids
}
