import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { isW3aError } from '../core/errors.js'
import { collectBytes, createMemoryBlockstore, readBlock } from './blockstore.js'
import type { Blockstore } from 'interface-blockstore'
import { collectDagCids, exportBytes, importBytes, UNIXFS_CHUNK_SIZE } from './unixfs.js'

const CHUNK = UNIXFS_CHUNK_SIZE
const text = (s: string) => new TextEncoder().encode(s)

async function exported(store: Blockstore, cid: CID): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of exportBytes(store, cid)) parts.push(p)
  return collectBytes(parts)
}

async function* inPieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

// CIDs published by Kubo itself for `ipfs add` with CIDv1 (raw leaves are its CIDv1 default):
// - "hello world": ipfs/kubo test/cli/add_test.go (shortStringCidV1)
// - "hello\n" (`echo hello | ipfs add --cid-version 1`): ipfs/kubo test/sharness/t0114-gateway-subdomains/README.md
// - empty input: the raw-leaf CID of zero bytes, quoted by boxo/bifrost as a valid zero-length block.
test('importBytes gives the CIDs Kubo gives (ipfs add --cid-version=1 --raw-leaves)', async () => {
  const store = createMemoryBlockstore()
  const cases: [Uint8Array, string][] = [
    [text('hello world'), 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'],
    [text('hello\n'), 'bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am'],
    [new Uint8Array(0), 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'],
  ]
  for (const [bytes, expected] of cases) {
    const { cid, size } = await importBytes(store, bytes)
    assert.equal(cid.toString(), expected)
    assert.equal(size, bytes.length)
    assert.deepEqual(await exported(store, cid), bytes)
  }
})

test('a multi-chunk file is a dag-pb root over raw 256 KiB leaves whose sizes add up', async () => {
  const store = createMemoryBlockstore()
  const data = new Uint8Array(randomBytes(4 * CHUNK + 123))
  const { cid, size } = await importBytes(store, data)
  assert.equal(size, data.length)
  assert.equal(cid.version, 1)
  assert.equal(cid.code, dagPb.code)

  const node = dagPb.decode(await readBlock(store, cid))
  const unixfs = UnixFS.unmarshal(node.Data!)
  assert.equal(unixfs.type, 'file')
  assert.equal(unixfs.fileSize(), BigInt(data.length))
  assert.deepEqual(unixfs.blockSizes, [CHUNK, CHUNK, CHUNK, CHUNK, 123].map(BigInt))
  assert.equal(node.Links.length, 5)
  let offset = 0
  for (const link of node.Links) {
    assert.equal(link.Hash.code, raw.code, 'leaves are raw')
    assert.equal(link.Name, '')
    const leaf = await readBlock(store, link.Hash)
    assert.equal(link.Tsize, leaf.length)
    assert.deepEqual(leaf, data.subarray(offset, offset + leaf.length))
    offset += leaf.length
  }
  assert.equal(offset, data.length)
  assert.deepEqual(await exported(store, cid), data)
})

test('the same bytes give the same CID whether passed whole or streamed in odd pieces', async () => {
  const store = createMemoryBlockstore()
  const data = new Uint8Array(randomBytes(2 * CHUNK + 7))
  const whole = await importBytes(store, data)
  const streamed = await importBytes(store, inPieces(data, 100_003))
  assert.equal(streamed.cid.toString(), whole.cid.toString())
  assert.equal(streamed.size, data.length)
})

test('balanced layout: 174 links per node, then a new level (as Kubo does)', async () => {
  // Mirrors Kubo's test/cli/add_test.go "UnixFSFileMaxLinks=174" cases (44544KiB vs 44800KiB).
  const store = createMemoryBlockstore()
  const data = new Uint8Array(randomBytes(175 * CHUNK))
  const flat = await importBytes(store, data.subarray(0, 174 * CHUNK))
  assert.equal(dagPb.decode(await readBlock(store, flat.cid)).Links.length, 174)

  const deep = await importBytes(store, data)
  const root = dagPb.decode(await readBlock(store, deep.cid))
  assert.equal(root.Links.length, 2)
  const [left, right] = root.Links
  assert.equal(left!.Hash.toString(), flat.cid.toString(), 'first child is the full 174-leaf node')
  assert.equal(right!.Hash.code, dagPb.code)
  assert.equal(dagPb.decode(await readBlock(store, right!.Hash)).Links.length, 1)
  assert.deepEqual(UnixFS.unmarshal(root.Data!).blockSizes, [174n * BigInt(CHUNK), BigInt(CHUNK)])
})

test('collectDagCids lists every block once, root first', async () => {
  const store = createMemoryBlockstore()
  const data = new Uint8Array(randomBytes(3 * CHUNK))
  const { cid } = await importBytes(store, data)
  const cids = await collectDagCids(store, cid)
  assert.equal(cids.length, 4)
  assert.equal(cids[0]!.toString(), cid.toString())
  assert.equal(new Set(cids.map(String)).size, 4)

  // Identical chunks share one leaf: listed once.
  const zeros = await importBytes(store, new Uint8Array(3 * CHUNK))
  assert.equal((await collectDagCids(store, zeros.cid)).length, 2)
})

test('exportBytes reports a missing block as BLOCK_NOT_FOUND', async () => {
  const store = createMemoryBlockstore()
  const { cid } = await importBytes(store, new Uint8Array(randomBytes(2 * CHUNK)))
  const leaf = dagPb.decode(await readBlock(store, cid)).Links[1]!.Hash
  await store.delete(leaf)
  await assert.rejects(exported(store, cid), (e) => isW3aError(e, 'BLOCK_NOT_FOUND'))
  await assert.rejects(collectDagCids(store, cid), (e) => isW3aError(e, 'BLOCK_NOT_FOUND') && e.message.includes(leaf.toString()))
})

test('a failing source or a failing write rejects importBytes (no hang, no unhandled rejection)', async () => {
  async function* broken(): AsyncGenerator<Uint8Array> {
    yield new Uint8Array(randomBytes(3 * CHUNK))
    throw new Error('disk went away')
  }
  await assert.rejects(importBytes(createMemoryBlockstore(), broken()), /disk went away/)

  const failing = createMemoryBlockstore()
  let puts = 0
  failing.put = async () => {
    if (++puts === 3) throw new Error('write failed')
    return undefined as never
  }
  await assert.rejects(importBytes(failing, new Uint8Array(randomBytes(100 * CHUNK))), /write failed/)
})
