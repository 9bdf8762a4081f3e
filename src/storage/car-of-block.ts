import { CarWriter } from '@ipld/car/writer'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import * as dagJson from '@ipld/dag-json'
import * as raw from 'multiformats/codecs/raw'
import { concatBytes } from 'viem'

/**
 * Wraps one block as a CARv1 whose root is that block: a dag-json manifest by default, or a
 * raw block (`raw.code`, e.g. a sealed analysis).
 */
export async function carOfBlock(bytes: Uint8Array, codec: typeof dagJson.code | typeof raw.code = dagJson.code): Promise<{ cid: CID; car: Uint8Array }> {
  const cid = CID.createV1(codec, await sha256.digest(bytes))
  const { writer, out } = CarWriter.create([cid])
  const chunks: Uint8Array[] = []
  const collected = (async () => {
    for await (const c of out) chunks.push(c)
  })()
  await writer.put({ cid, bytes })
  await writer.close()
  await collected
  return { cid, car: concatBytes(chunks) }
}
