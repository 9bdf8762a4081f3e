import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { CarBlockIterator } from '@ipld/car/iterator'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import { isW3aError } from '../core/errors.js'
import { collectBytes, createMemoryBlockstore } from './blockstore.js'
import { exportCar, importCar } from './car.js'
import { collectDagCids, exportBytes, importBytes } from './unixfs.js'
import { verifyBlock } from './verify-block.js'

async function all(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of source) parts.push(p)
  return collectBytes(parts)
}

async function* inPieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

async function fixture(size = 3 * 256 * 1024 + 5): Promise<{ store: Blockstore; data: Uint8Array; root: CID; car: Uint8Array }> {
  const store = createMemoryBlockstore()
  const data = new Uint8Array(randomBytes(size))
  const { cid: root } = await importBytes(store, data)
  return { store, data, root, car: await all(exportCar(store, root)) }
}

async function storedCount(store: Blockstore): Promise<number> {
  let n = 0
  for await (const _ of store.getAll()) n++
  return n
}

test('exportCar writes a CARv1 rooted at the CID, root block first, every block once and valid', async () => {
  const { store, root, car } = await fixture()
  const reader = await CarBlockIterator.fromBytes(car)
  assert.equal(reader.version, 1)
  assert.deepEqual((await reader.getRoots()).map(String), [root.toString()])
  const seen: string[] = []
  for await (const block of reader) {
    await verifyBlock(block.cid, block.bytes)
    seen.push(block.cid.toString())
  }
  assert.deepEqual(seen, (await collectDagCids(store, root)).map(String))
  assert.equal(seen[0], root.toString())
})

test('importCar stores a verified DAG that exports back to the same bytes', async () => {
  const { data, root, car } = await fixture()
  const target = createMemoryBlockstore()
  const result = await importCar(target, inPieces(car, 10_000), { expectedRoots: [root], requireComplete: true })
  assert.deepEqual(result.roots.map(String), [root.toString()])
  assert.equal(result.blocks, 5) // root + 4 leaves
  assert.ok(result.bytes >= data.length)
  assert.deepEqual(await all(exportBytes(target, root)), data)
})

test('a CAR with one block that does not match its CID stores nothing', async () => {
  const { store, root, car } = await fixture()
  const cids = await collectDagCids(store, root)
  // Flip one byte inside the last leaf's data (the end of the CAR).
  const bad = car.slice()
  bad[bad.length - 2] = bad[bad.length - 2]! ^ 0xff
  const target = createMemoryBlockstore()
  const victim = cids.at(-1)!.toString()
  await assert.rejects(importCar(target, bad), (e) => isW3aError(e, 'BLOCK_HASH_MISMATCH') && e.message.includes(victim))
  assert.equal(await storedCount(target), 0, 'all-or-nothing: the good blocks before it are not stored either')
})

test('a malformed CAR is CAR_MALFORMED', async () => {
  const target = createMemoryBlockstore()
  await assert.rejects(importCar(target, new Uint8Array(randomBytes(300))), (e) => isW3aError(e, 'CAR_MALFORMED'))
  await assert.rejects(importCar(target, new Uint8Array(0)), (e) => isW3aError(e, 'CAR_MALFORMED'))
  assert.equal(await storedCount(target), 0)
})

test('a truncated CAR is CAR_MALFORMED and stores nothing', async () => {
  const { car } = await fixture()
  const target = createMemoryBlockstore()
  await assert.rejects(importCar(target, car.subarray(0, car.length - 1000)), (e) => isW3aError(e, 'CAR_MALFORMED'))
  await assert.rejects(importCar(target, car.subarray(0, 30)), (e) => isW3aError(e, 'CAR_MALFORMED'))
  assert.equal(await storedCount(target), 0)
})

test('a CAR cut at a block boundary is caught by requireComplete', async () => {
  const { store, root } = await fixture()
  // Header + all blocks but the last one: a well-formed CAR missing part of the DAG.
  const chunks: Uint8Array[] = []
  for await (const c of exportCar(store, root)) chunks.push(c)
  const cut = await collectBytes(chunks.slice(0, -2))
  const target = createMemoryBlockstore()
  await assert.rejects(importCar(target, cut, { requireComplete: true }), (e) => isW3aError(e, 'CAR_MALFORMED') && /incomplete/.test(e.message))
  assert.equal(await storedCount(target), 0)
  assert.equal((await importCar(target, cut)).blocks, 4, 'without the option a partial DAG is accepted')
})

test('importCar enforces maxBytes and expectedRoots', async () => {
  const { car } = await fixture()
  const other = await fixture(100)
  const target = createMemoryBlockstore()
  await assert.rejects(importCar(target, car, { maxBytes: 1000 }), (e) => isW3aError(e, 'INVALID_ARGUMENT') && /limit/.test(e.message))
  await assert.rejects(importCar(target, inPieces(car, 512), { maxBytes: 1000 }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
  await assert.rejects(importCar(target, car, { expectedRoots: [other.root] }), (e) => isW3aError(e, 'CAR_MALFORMED') && /roots/.test(e.message))
  assert.equal(await storedCount(target), 0)
})

test('exportCar fails mid-stream when a child block is missing', async () => {
  const { store, root } = await fixture()
  const cids = await collectDagCids(store, root)
  await store.delete(cids[2]!)
  await assert.rejects(all(exportCar(store, root)), (e) => isW3aError(e, 'BLOCK_NOT_FOUND'))
})
