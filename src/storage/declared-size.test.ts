import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import * as dagJson from '@ipld/dag-json'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { createMemoryBlockstore } from './blockstore.js'
import { declaredDagSize } from './declared-size.js'
import { collectDagCids, importBytes } from './unixfs.js'
import { readBlock } from './block-read.js'

const cidOf = async (code: number, bytes: Uint8Array) => CID.createV1(code, await sha256.digest(bytes))

test('a UnixFS root declares its file DAG, a raw block itself, anything else only itself (manifests: manifest.test.ts)', async () => {
  const store = createMemoryBlockstore()
  const file = await importBytes(store, new Uint8Array(randomBytes(700 * 1024)))
  // The whole DAG, counted block by block, is what the root's Tsizes declare.
  let dagBytes = 0n
  for (const cid of await collectDagCids(store, file.cid)) dagBytes += BigInt((await readBlock(store, cid)).length)
  const root = await readBlock(store, file.cid)
  assert.equal(declaredDagSize(file.cid, root), dagBytes)

  const leaf = new Uint8Array(randomBytes(333))
  assert.equal(declaredDagSize(await cidOf(raw.code, leaf), leaf), 333n)
  const other = dagJson.encode({ note: 'not a manifest', link: file.cid })
  assert.equal(declaredDagSize(await cidOf(dagJson.code, other), other), BigInt(other.length))
  const noTsize = dagPb.encode(dagPb.prepare({ Links: [{ Hash: file.cid }] }))
  assert.equal(declaredDagSize(await cidOf(dagPb.code, noTsize), noTsize), BigInt(noTsize.length))
})
