/**
 * Checks that a block's bytes are what its CID says they are. Every block that
 * comes from outside this process (a CAR upload, a peer, the disk after a crash)
 * passes through here before anyone trusts it.
 */
import type { CID } from 'multiformats/cid'
import { equals } from 'multiformats/bytes'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import { W3aError } from '../core/errors.js'

/** Multihash codes we can check. Anything else is refused: we cannot vouch for it. */
export const SHA2_256 = sha256.code
export const IDENTITY = identity.code

/**
 * Largest block we accept from outside. IPFS peers (bitswap, trustless gateways)
 * refuse blocks over 2 MiB, and our own importer never makes blocks over 256 KiB + a
 * small dag-pb node, so anything bigger is an attack or a bug.
 */
export const MAX_BLOCK_BYTES = 2 * 1024 * 1024

/**
 * Throws BLOCK_HASH_MISMATCH (naming the CID) unless `bytes` hash to the CID's multihash.
 * Supports sha2-256 and identity; any other hash function → INVALID_ARGUMENT.
 */
export async function verifyBlock(cid: CID, bytes: Uint8Array): Promise<void> {
  const { code, digest } = cid.multihash
  let ok: boolean
  if (code === SHA2_256) {
    ok = equals((await sha256.digest(bytes)).digest, digest)
  } else if (code === IDENTITY) {
    ok = equals(bytes, digest)
  } else {
    throw unsupported(cid)
  }
  if (!ok) throw mismatch(cid, bytes.length)
}

/** The refusal of a block under a hash this node does not check. */
export function unsupported(cid: CID): W3aError {
  return new W3aError('INVALID_ARGUMENT', `Cannot verify block ${cid}: unsupported hash function 0x${cid.multihash.code.toString(16)}`, {
    details: ['Only sha2-256 and identity multihashes are accepted.'],
  })
}

/** The refusal of a block whose bytes do not hash to its CID. */
export function mismatch(cid: CID, length: number): W3aError {
  return new W3aError('BLOCK_HASH_MISMATCH', `Block ${cid} does not match its CID`, {
    details: [`got ${length} bytes whose hash differs from the CID's multihash`],
  })
}
