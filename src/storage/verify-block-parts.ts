/**
 * `verifyBlock` for a block that arrived in pieces, for Node's streaming readers (car-file.ts):
 * WebCrypto's SHA-256, which hashes on libuv's thread pool, so a reader can have a few blocks
 * hashed at once beside its own thread's parsing and its consumer's work. Node only (the browser
 * bundle carries verify-block.ts).
 */
import { webcrypto } from 'node:crypto'
import type { CID } from 'multiformats/cid'
import { equals } from 'multiformats/bytes'
import { IDENTITY, SHA2_256, mismatch, unsupported } from './verify-block.js'

/** Rejects (BLOCK_HASH_MISMATCH naming the CID) unless the pieces, joined, hash to the CID's multihash. */
export async function verifyBlockParts(cid: CID, parts: readonly Uint8Array[]): Promise<void> {
  const { code, digest } = cid.multihash
  const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts)
  let ok: boolean
  if (code === SHA2_256) {
    ok = equals(new Uint8Array(await webcrypto.subtle.digest('SHA-256', bytes)), digest)
  } else if (code === IDENTITY) {
    ok = equals(bytes, digest)
  } else {
    throw unsupported(cid)
  }
  if (!ok) throw mismatch(cid, bytes.length)
}
