/**
 * `verifyBlock` for a block that arrived in pieces, for Node's streaming readers (car-file.ts):
 * node:crypto's incremental sha256, so it stays out of verify-block.ts, which the browser bundle carries.
 */
import { createHash } from 'node:crypto'
import type { CID } from 'multiformats/cid'
import { equals } from 'multiformats/bytes'
import { IDENTITY, SHA2_256, mismatch, unsupported } from './verify-block.js'

/** Hashed piece by piece (views of network buffers), never joined. Synchronous: a streaming reader checks each block before passing it on. */
export function verifyBlockParts(cid: CID, parts: readonly Uint8Array[]): void {
  const { code, digest } = cid.multihash
  let length = 0
  for (const p of parts) length += p.length
  let ok: boolean
  if (code === SHA2_256) {
    const hash = createHash('sha256')
    for (const p of parts) hash.update(p)
    ok = equals(hash.digest(), digest)
  } else if (code === IDENTITY) {
    ok = equals(Buffer.concat(parts), digest)
  } else {
    throw unsupported(cid)
  }
  if (!ok) throw mismatch(cid, length)
}

