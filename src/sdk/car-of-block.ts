import { CarWriter } from '@ipld/car/writer'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import * as dagJson from '@ipld/dag-json'

/** Wraps one dag-json block (a manifest) as a CARv1 whose root is that block. */
export async function carOfBlock(bytes: Uint8Array): Promise<{ cid: CID; car: Uint8Array }> {
  const cid = CID.createV1(dagJson.code, await sha256.digest(bytes))
  const { writer, out } = CarWriter.create([cid])
  const chunks: Uint8Array[] = []
  const collected = (async () => {
    for await (const c of out) chunks.push(c)
  })()
  await writer.put({ cid, bytes })
  await writer.close()
  await collected
  return { cid, car: Buffer.concat(chunks) }
}
