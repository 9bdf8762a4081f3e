import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import * as dagJson from '@ipld/dag-json'
import type { Blockstore } from 'interface-blockstore'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { createMemoryBlockstore } from './blockstore.js'
import { dagKeys, dropDag } from './drop-dag.js'
import { importBytes, UNIXFS_CHUNK_SIZE } from './unixfs.js'

async function putRoot(store: Blockstore, value: unknown): Promise<CID> {
  const bytes = dagJson.encode(value)
  const cid = CID.createV1(dagJson.code, await sha256.digest(bytes))
  await store.put(cid, bytes)
  return cid
}

const countBlocks = async (store: Blockstore) => {
  let n = 0
  for await (const _ of store.getAll()) n++
  return n
}

test('dropDag deletes a DAG (root, UnixFS nodes, leaves) but keeps blocks another DAG links', async () => {
  const store = createMemoryBlockstore()
  // Two chunks and more: a dag-pb root over raw leaves.
  const own = await importBytes(store, new Uint8Array(randomBytes(UNIXFS_CHUNK_SIZE * 2 + 10)))
  const shared = await importBytes(store, new Uint8Array(randomBytes(500)))
  const other = await importBytes(store, new Uint8Array(randomBytes(700)))
  const a = await putRoot(store, { name: 'a', segments: [own.cid, shared.cid] })
  const b = await putRoot(store, { name: 'b', segments: [shared.cid, other.cid] })
  const total = await countBlocks(store)
  assert.equal(total, 4 + 1 + 1 + 2, 'own: root + 3 leaves; shared; other; two manifests')

  const keep = await dagKeys(store, b)
  assert.equal(keep.size, 3)
  const r = await dropDag(store, a, keep)
  assert.deepEqual({ blocks: r.blocks, kept: r.kept, missing: r.missing }, { blocks: 5, kept: 1, missing: 0 })
  assert.ok(r.bytes > UNIXFS_CHUNK_SIZE * 2, `counted ${r.bytes} bytes`)
  assert.equal(await store.has(a), false)
  assert.equal(await store.has(own.cid), false)
  assert.equal(await store.has(shared.cid), true, 'the shared block stays')
  assert.equal(await store.has(b), true)
  assert.equal(await countBlocks(store), total - 5)

  // Again: nothing left to drop, and nothing fails.
  assert.deepEqual(await dropDag(store, a, keep), { blocks: 0, bytes: 0, kept: 0, missing: 1 })
  // Without a keep set the rest goes too.
  assert.equal((await dropDag(store, b, new Set())).blocks, 3)
  assert.equal(await countBlocks(store), 0)
})

test('two CIDs of the same bytes are one block: a link by either keeps it (and its sub-DAG)', async () => {
  const store = createMemoryBlockstore()
  const file = await importBytes(store, new Uint8Array(randomBytes(UNIXFS_CHUNK_SIZE + 1)))
  assert.equal(file.cid.code, 0x70, 'a dag-pb root over two raw leaves')
  const a = await putRoot(store, { seg: file.cid })
  const keep = await dagKeys(store, await putRoot(store, { alias: CID.createV0(file.cid.multihash as Parameters<typeof CID.createV0>[0]) }))
  const r = await dropDag(store, a, keep)
  assert.deepEqual({ blocks: r.blocks, kept: r.kept }, { blocks: 1, kept: 1 })
  assert.equal(await store.has(file.cid), true)
  assert.equal(await countBlocks(store), 4, 'the other manifest, the root and both leaves')
})

test('an undecodable block is dropped as a leaf, never stops the drop', async () => {
  const store = createMemoryBlockstore()
  const junk = new Uint8Array(randomBytes(64))
  const bad = CID.createV1(dagJson.code, await sha256.digest(junk))
  await store.put(bad, junk)
  assert.equal((await dagKeys(store, bad)).size, 1)
  assert.deepEqual(await dropDag(store, bad, new Set()), { blocks: 1, bytes: 64, kept: 0, missing: 0 })
})

test('drops of one request share what they saw: a segment named after the manifest that linked it is not counted missing', async () => {
  const store = createMemoryBlockstore()
  const seg = await importBytes(store, new Uint8Array(randomBytes(900)))
  const manifest = await putRoot(store, { segments: [seg.cid] })
  const seen = new Set<string>()
  assert.deepEqual((await dropDag(store, manifest, new Set(), seen)).blocks, 2)
  assert.deepEqual(await dropDag(store, seg.cid, new Set(), seen), { blocks: 0, bytes: 0, kept: 0, missing: 0 })
  // A later request (a new seen set) finds it gone.
  assert.deepEqual(await dropDag(store, seg.cid, new Set()), { blocks: 0, bytes: 0, kept: 0, missing: 1 })
})
