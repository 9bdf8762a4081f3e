import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as dagJson from '@ipld/dag-json'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { keccak256, toHex } from 'viem'
import { createMemoryBlockstore, readBlock } from '../storage/blockstore.js'
import { encodeManifest } from '../storage/manifest.js'
import { testManifest } from '../storage/manifest-fixture.test.js'
import { importBytes } from '../storage/unixfs.js'
import { verifyBlock } from '../storage/verify-block.js'
import { AuditWalks } from './storage-walk.js'

test('walks reach a dataset\'s bytes in proportion to their size: a manifest\'s large segment, not its tiny one', async () => {
  const store = createMemoryBlockstore()
  // Fixed bytes and a fixed seed: the walks, and so this test, come out the same every run.
  const bytes = (n: number, salt: number) => Uint8Array.from({ length: n }, (_, i) => ((i + salt) * 2654435761) >>> 13)
  const large = await importBytes(store, bytes(1024 * 1024, 0))
  const tiny = await importBytes(store, bytes(10, 7))
  const manifest = encodeManifest(
    testManifest([
      { cid: large.cid, rows: 1, size: large.size },
      { cid: tiny.cid, rows: 1, size: tiny.size },
    ]),
  )
  const root = CID.createV1(dagJson.code, await sha256.digest(manifest))
  await store.put(root, manifest)
  const check = async (cid: string, bytes: Uint8Array | undefined) => bytes !== undefined && (await verifyBlock(CID.parse(cid), bytes).then(() => true, () => false))
  const walks = new AuditWalks(keccak256(toHex('an era seed')), [root.toString()], 64, check)
  const asked: string[] = []
  for (let need = walks.need(); need.length > 0; need = walks.need()) {
    asked.push(...need)
    await walks.feed(new Map(await Promise.all(need.map(async (c) => [c, await readBlock(store, CID.parse(c))] as const))))
  }
  assert.equal(walks.failed, 0)
  assert.ok(asked.includes(large.cid.toString()), 'the large segment is walked into')
  assert.ok(asked.length > 3, `several of its leaves are reached (${asked.length} blocks)`)
  // Uniform steps would send half of 64 walks to the 10-byte segment; by size, about 64 × 10 / 1 MiB.
  assert.ok(!asked.includes(tiny.cid.toString()), 'the 10-byte segment is not')
})
