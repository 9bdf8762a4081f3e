import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { base32upper } from 'multiformats/bases/base32'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { isW3aError } from '../core/errors.js'
import { collectBytes, createMemoryBlockstore, openBlockstore, readBlock } from './blockstore.js'
import { exportCar } from './car.js'
import { readCarFile } from './car-file.js'
import { importBytes } from './unixfs.js'

const root = await mkdtemp(join(tmpdir(), 'w3a-blockstore-test-'))
after(() => rm(root, { recursive: true, force: true }))

async function rawBlock(size = 1000): Promise<{ cid: CID; bytes: Uint8Array }> {
  const bytes = new Uint8Array(randomBytes(size))
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

/** Where blockstore-fs keeps a block (its default NextToLast sharding). */
function blockFile(dir: string, cid: CID): string {
  const name = base32upper.encode(cid.multihash.bytes)
  return join(dir, name.slice(-2), `${name}.data`)
}

test('openBlockstore creates the directory and round-trips blocks', async () => {
  const dir = join(root, 'a', 'nested', 'store')
  const store = await openBlockstore(dir)
  assert.ok((await stat(dir)).isDirectory())
  const { cid, bytes } = await rawBlock()
  assert.equal(await store.has(cid), false)
  await store.put(cid, bytes)
  assert.equal(await store.has(cid), true)
  assert.deepEqual(await readBlock(store, cid), bytes)

  // Survives a reopen: it is on disk.
  const again = await openBlockstore(dir)
  assert.deepEqual(await collectBytes(again.get(cid)), bytes)
})

test('readBlock of a missing block is BLOCK_NOT_FOUND', async () => {
  const store = await openBlockstore(join(root, 'missing'))
  const { cid } = await rawBlock()
  await assert.rejects(readBlock(store, cid), (e) => isW3aError(e, 'BLOCK_NOT_FOUND') && e.message.includes(cid.toString()))
  await assert.rejects(readBlock(createMemoryBlockstore(), cid), (e) => isW3aError(e, 'BLOCK_NOT_FOUND'))
})

test('a torn block on disk is never returned: it is reported, removed, and can be written again', async () => {
  const dir = join(root, 'torn')
  const store = await openBlockstore(dir)
  const { cid, bytes } = await rawBlock(4096)
  await store.put(cid, bytes)
  // What a power loss after the rename (no fsync) can leave behind: a short file.
  await truncate(blockFile(dir, cid), 100)
  await assert.rejects(readBlock(store, cid), (e) => isW3aError(e, 'BLOCK_HASH_MISMATCH') && e.message.includes(cid.toString()))
  assert.equal(await store.has(cid), false, 'the corrupt file is dropped')
  await store.put(cid, bytes)
  assert.deepEqual(await readBlock(store, cid), bytes)
})

test('a write that crashed before its rename leaves nothing readable', async () => {
  const dir = join(root, 'crashed')
  const store = await openBlockstore(dir)
  const { cid, bytes } = await rawBlock(4096)
  const file = blockFile(dir, cid)
  await store.put(cid, new Uint8Array(1)) // creates the shard directory (wrong bytes, then removed below)
  await rm(file)
  // blockstore-fs (steno) writes `.{name}.tmp` first; a crash leaves only that.
  await writeFile(join(dir, file.split('/').at(-2)!, `.${file.split('/').at(-1)}.tmp`), bytes.subarray(0, 10))
  assert.equal(await store.has(cid), false)
  await assert.rejects(readBlock(store, cid), (e) => isW3aError(e, 'BLOCK_NOT_FOUND'))
  const listed: string[] = []
  for await (const pair of store.getAll()) listed.push(pair.cid.toString())
  assert.deepEqual(listed, [])
})

test('concurrent puts of the same block are coalesced and the block reads back intact', async () => {
  const dir = join(root, 'concurrent')
  const store = await openBlockstore(dir)
  const { cid, bytes } = await rawBlock(256 * 1024)
  await Promise.all(Array.from({ length: 20 }, () => store.put(cid, bytes)))
  assert.deepEqual(await readBlock(store, cid), bytes)
  const shard = (await readdir(join(dir, blockFile(dir, cid).split('/').at(-2)!))).filter((f) => f.endsWith('.tmp'))
  assert.deepEqual(shard, [], 'no temp files left behind')
})

test('putMany, getMany, getAll, deleteMany work through the checked store', async () => {
  const store = await openBlockstore(join(root, 'many'))
  const blocks = await Promise.all([rawBlock(10), rawBlock(20), rawBlock(30)])
  for await (const _ of store.putMany(blocks)) {
    // drain
  }
  for await (const { cid, bytes } of store.getMany(blocks.map((b) => b.cid))) {
    assert.deepEqual(await collectBytes(bytes), blocks.find((b) => b.cid.equals(cid))!.bytes)
  }
  let n = 0
  for await (const { bytes } of store.getAll()) {
    assert.ok((await collectBytes(bytes)).length > 0)
    n++
  }
  assert.equal(n, 3)
  for await (const _ of store.deleteMany(blocks.map((b) => b.cid))) {
    // drain
  }
  assert.equal(await store.has(blocks[0]!.cid), false)
})

test('createMemoryBlockstore round-trips blocks', async () => {
  const store = createMemoryBlockstore()
  const { cid, bytes } = await rawBlock()
  await store.put(cid, bytes)
  assert.deepEqual(await readBlock(store, cid), bytes)
})

test('a CAR for a checking reader serves leaves as stored (no second hash), and a tampered leaf still fails at the reader', async () => {
  const dir = join(root, 'car-as-stored')
  const store = await openBlockstore(dir)
  const data = new Uint8Array(randomBytes(3 * 256 * 1024 + 7))
  const { cid } = await importBytes(store, data)
  const read = (forChecker: boolean) => collectBytes(readCarFile(exportCar(store, cid, { forChecker }), { root: cid, size: data.length }))
  assert.deepEqual(await read(true), data)
  // Flip the first byte of a leaf on disk (same length: what a lying or failing disk can do).
  // Any leaf will do, the 7-byte one too: byte 0 exists in each.
  const leaf = (await readdir(dir, { recursive: true })).find((f) => f.endsWith('.data') && !blockFile(dir, cid).endsWith(f))!
  const file = join(dir, leaf)
  const bytes = await readFile(file)
  bytes[0] = bytes[0]! ^ 1
  await writeFile(file, bytes)
  await assert.rejects(read(true), (e) => isW3aError(e, 'BLOCK_HASH_MISMATCH'))
})
