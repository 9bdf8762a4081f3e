import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { CarBlockIterator } from '@ipld/car/iterator'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { createMemoryBlockstore, readBlock } from './blockstore.js'
import { createTrustlessGateway } from './trustless-gateway.js'
import { collectDagCids, importBytes } from './unixfs.js'
import { verifyBlock } from './verify-block.js'

const store = createMemoryBlockstore()
const data = new Uint8Array(randomBytes(2 * 256 * 1024 + 10))
const { cid: root } = await importBytes(store, data)
const gateway = createTrustlessGateway(store)
const missing = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode('not stored')))

async function get(path: string, init: RequestInit = {}): Promise<Response> {
  const res = await gateway(new Request(`http://gw.test${path}`, init))
  assert.ok(res !== undefined, `gateway should own ${path}`)
  return res
}

async function carBlocks(res: Response): Promise<{ roots: string[]; cids: string[] }> {
  const reader = await CarBlockIterator.fromBytes(new Uint8Array(await res.arrayBuffer()))
  const cids: string[] = []
  for await (const block of reader) {
    await verifyBlock(block.cid, block.bytes)
    cids.push(block.cid.toString())
  }
  return { roots: (await reader.getRoots()).map(String), cids }
}

test('paths outside /ipfs/ are not the gateway\'s', async () => {
  assert.equal(await gateway(new Request('http://gw.test/api/v1/datasets')), undefined)
  assert.equal(await gateway(new Request('http://gw.test/ipfs')), undefined)
})

test('?format=raw returns the single block with trustless headers', async () => {
  const res = await get(`/ipfs/${root}?format=raw`)
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('content-type'), 'application/vnd.ipld.raw')
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
  assert.match(res.headers.get('cache-control')!, /immutable/)
  assert.equal(res.headers.get('etag'), `"${root}.raw"`)
  assert.match(res.headers.get('content-disposition')!, /^attachment/)
  const body = new Uint8Array(await res.arrayBuffer())
  assert.deepEqual(body, await readBlock(store, root))
  await verifyBlock(root, body)
})

test('Accept: application/vnd.ipld.raw works without ?format', async () => {
  const leaf = (await collectDagCids(store, root))[1]!
  const res = await get(`/ipfs/${leaf}`, { headers: { Accept: 'application/vnd.ipld.raw' } })
  assert.equal(res.status, 200)
  await verifyBlock(leaf, new Uint8Array(await res.arrayBuffer()))
})

test('?format=car streams a CARv1 of the whole DAG, root first', async () => {
  const res = await get(`/ipfs/${root}?format=car`)
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type')!, /^application\/vnd\.ipld\.car; version=1/)
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
  const { roots, cids } = await carBlocks(res)
  assert.deepEqual(roots, [root.toString()])
  assert.deepEqual(cids, (await collectDagCids(store, root)).map(String))
})

test('Accept: application/vnd.ipld.car (with q-values) selects a CAR', async () => {
  const res = await get(`/ipfs/${root}`, { headers: { Accept: 'text/html;q=0.5, application/vnd.ipld.car; version=1' } })
  assert.equal(res.status, 200)
  assert.equal((await carBlocks(res)).cids.length, 4)
})

test('dag-scope=block returns only the root block', async () => {
  const res = await get(`/ipfs/${root}?format=car&dag-scope=block`)
  assert.deepEqual((await carBlocks(res)).cids, [root.toString()])
})

test('HEAD answers with headers and no body', async () => {
  const rawHead = await get(`/ipfs/${root}?format=raw`, { method: 'HEAD' })
  assert.equal(rawHead.status, 200)
  assert.equal(rawHead.headers.get('content-length'), String((await readBlock(store, root)).length))
  assert.equal(rawHead.body, null)
  const carHead = await get(`/ipfs/${root}?format=car`, { method: 'HEAD' })
  assert.equal(carHead.status, 200)
  assert.equal(carHead.body, null)
  assert.equal((await get(`/ipfs/${missing}?format=raw`, { method: 'HEAD' })).status, 404)
})

test('404 for blocks that are not here', async () => {
  for (const format of ['raw', 'car']) {
    const res = await get(`/ipfs/${missing}?format=${format}`)
    assert.equal(res.status, 404)
    assert.match(res.headers.get('content-type')!, /^text\/plain/)
    assert.ok((await res.text()).length < 200)
  }
})

test('400 for a bad CID, a content path, or no trustless format asked for', async () => {
  assert.equal((await get('/ipfs/not-a-cid?format=raw')).status, 400)
  assert.equal((await get(`/ipfs/${root}/some/path?format=car`)).status, 400)
  assert.equal((await get(`/ipfs/${root}`)).status, 400)
  assert.equal((await get(`/ipfs/${root}`, { headers: { Accept: '*/*' } })).status, 400)
  assert.equal((await get(`/ipfs/${root}`, { headers: { Accept: 'text/html' } })).status, 400)
  assert.equal((await get(`/ipfs/${root}?format=car&dag-scope=everything`)).status, 400)
  assert.equal((await get(`/ipfs/${root}?format=car&entity-bytes=0:10`)).status, 400)
})

test('406 for formats this gateway does not serve', async () => {
  assert.equal((await get(`/ipfs/${root}?format=dag-json`)).status, 406)
  assert.equal((await get(`/ipfs/${root}?format=tar`)).status, 406)
  assert.equal((await get(`/ipfs/${root}`, { headers: { Accept: 'application/vnd.ipld.dag-json' } })).status, 406)
  assert.equal((await get(`/ipfs/${root}`, { headers: { Accept: 'application/vnd.ipld.car; version=2' } })).status, 406)
  assert.equal((await get(`/ipfs/${root}?format=car&car-version=2`)).status, 406)
})

test('405 for other methods, 304 for a matching If-None-Match', async () => {
  const post = await get(`/ipfs/${root}?format=raw`, { method: 'POST' })
  assert.equal(post.status, 405)
  assert.equal(post.headers.get('allow'), 'GET, HEAD')
  const cached = await get(`/ipfs/${root}?format=raw`, { headers: { 'If-None-Match': `"${root}.raw"` } })
  assert.equal(cached.status, 304)
})
