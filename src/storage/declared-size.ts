/**
 * The size a DAG's root block declares for the whole DAG, read from the root alone (its bytes
 * must already be checked against its CID): what a storage enclave can know of an order's bytes
 * without the host's word (storage-audit.ts, `bytesHeld`).
 *
 * - raw: the block itself.
 * - dag-pb (UnixFS): the block plus every link's Tsize (the cumulative size of the linked DAG
 *   its importer recorded); a link without Tsize counts nothing.
 * - dag-json dataset manifest (manifest.ts): the block plus every segment's ciphertext size.
 * - anything else: the block itself (it declares nothing we can read).
 * Declared by whoever made the root (the dataset's owner), fixed by its CID: a storage host can
 * neither raise nor lower it.
 */
import * as dagJson from '@ipld/dag-json'
import * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { decodeManifest } from './manifest.js'

export function declaredDagSize(cid: CID, bytes: Uint8Array): bigint {
  const own = BigInt(bytes.length)
  try {
    switch (cid.code) {
      case raw.code:
        return own
      case dagPb.code:
        return dagPb.decode(bytes).Links.reduce((sum, l) => sum + BigInt(l.Tsize ?? 0), own)
      case dagJson.code:
        return decodeManifest(bytes).segments.reduce((sum, s) => sum + BigInt(s.size), own)
    }
  } catch {
    // not a block of that shape (or not a manifest): it declares only itself
  }
  return own
}
