/**
 * Depth-first walk over a DAG in the blockstore: the one traversal behind pinning
 * (`collectDagCids`), CAR export and CAR completeness checks. Order is the trustless
 * gateway's `order=dfs`: a block, then its links left to right; each block once.
 */
import * as dagJson from '@ipld/dag-json'
import * as dagPb from '@ipld/dag-pb'
import type { Blockstore } from 'interface-blockstore'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { W3aError } from '../core/errors.js'
import { readBlock } from './block-read.js'
import { IDENTITY } from './verify-block.js'

export type Block = { cid: CID; bytes: Uint8Array }

/** `all`: the whole DAG. `block`: only the root (trustless gateway `dag-scope=block`). */
export type DagScope = 'all' | 'block'

/** The CIDs a block links to, in order. Codecs we cannot read → INVALID_ARGUMENT. */
export function blockLinks(cid: CID, bytes: Uint8Array): CID[] {
  try {
    switch (cid.code) {
      case raw.code:
        return []
      case dagPb.code:
        return dagPb.decode(bytes).Links.map((l) => l.Hash)
      case dagJson.code:
        return linksIn(dagJson.decode(bytes))
    }
  } catch (cause) {
    throw new W3aError('INPUT_MALFORMED', `Block ${cid} does not decode as its codec`, { cause })
  }
  throw new W3aError('INVALID_ARGUMENT', `Cannot traverse block ${cid}: unsupported codec 0x${cid.code.toString(16)}`, {
    details: ['Supported codecs: raw, dag-pb, dag-json.'],
  })
}

function linksIn(value: unknown, out: CID[] = []): CID[] {
  const cid = CID.asCID(value)
  if (cid !== null) {
    out.push(cid)
  } else if (Array.isArray(value)) {
    for (const v of value) linksIn(v, out)
  } else if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    for (const v of Object.values(value)) linksIn(v, out)
  }
  return out
}

export type WalkDagOptions = {
  scope?: DagScope
  signal?: AbortSignal
  /** How a block is read (default `readBlock`, hash-checked). */
  read?: (cid: CID) => Promise<Uint8Array>
  /** Blocks read ahead of the one being yielded (the next ones in walk order), so reads overlap what the consumer does. Default 0. */
  readAhead?: number
}

/**
 * Yields every block of the DAG under `root`, root first, depth-first, without
 * duplicates. Identity-hashed links carry their bytes inline and are not yielded.
 * A missing block → BLOCK_NOT_FOUND (the walk stops there).
 */
export async function* walkDag(blockstore: Blockstore, root: CID, options: WalkDagOptions = {}): AsyncGenerator<Block> {
  const read = options.read ?? ((cid: CID) => readBlock(blockstore, cid, { signal: options.signal }))
  const readAhead = options.readAhead ?? 0
  const seen = new Set<string>()
  const stack: CID[] = [root]
  /** Reads started ahead of their turn (a failure surfaces when its block's turn comes). */
  const started = new Map<string, Promise<Uint8Array>>()
  const start = (cid: CID, key: string): Promise<Uint8Array> => {
    let p = started.get(key)
    if (p === undefined) {
      p = read(cid)
      p.catch(() => undefined)
      started.set(key, p)
    }
    return p
  }
  while (stack.length > 0) {
    const cid = stack.pop()!
    if (cid.multihash.code === IDENTITY) continue
    const key = cid.toString()
    if (seen.has(key)) continue
    seen.add(key)
    // The blocks on top of the stack come next unless this one links to others first.
    for (let i = stack.length - 1, n = 0; i >= 0 && n < readAhead; i--) {
      const next = stack[i]!
      const nextKey = next.multihash.code === IDENTITY ? undefined : next.toString()
      if (nextKey === undefined || seen.has(nextKey)) continue
      start(next, nextKey)
      n++
    }
    const bytes = await start(cid, key)
    started.delete(key)
    yield { cid, bytes }
    if (options.scope === 'block') return
    const links = blockLinks(cid, bytes)
    for (let i = links.length - 1; i >= 0; i--) stack.push(links[i]!)
  }
}
