import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, truncate } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import type { Blockstore } from 'interface-blockstore'
import { base32upper } from 'multiformats/bases/base32'
import type { CID } from 'multiformats/cid'
import { isW3aError } from '../core/errors.js'
import { collectBytes, createMemoryBlockstore, openBlockstore, readBlock } from './blockstore.js'
import { withPeerFetch } from './peer-fetch.js'
import { createTrustlessGateway } from './trustless-gateway.js'
import { collectDagCids, exportBytes, importBytes } from './unixfs.js'

const dirs = await mkdtemp(join(tmpdir(), 'w3a-peer-fetch-test-'))
const servers: { close(): Promise<void> }[] = []
after(async () => {
  await Promise.all(servers.map((s) => s.close()))
  await rm(dirs, { recursive: true, force: true })
})

/** A real node:http server on 127.0.0.1:0 in front of a fetch-style handler. */
async function serve(handler: (req: Request) => Promise<Response | undefined>): Promise<string> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const headers = new Headers()
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v)
    void (async () => {
      const response = (await handler(new Request(`http://127.0.0.1${req.url}`, { method: req.method, headers }))) ?? new Response('no', { status: 404 })
      response.headers.forEach((value, name) => res.setHeader(name, value))
      res.writeHead(response.status)
      const reader = response.body?.getReader()
      for (;;) {
        const next = await reader?.read()
        if (next === undefined || next.done) break
        res.write(next.value)
      }
      res.end()
    })().catch(() => res.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  servers.push({
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function all(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of source) parts.push(p)
  return collectBytes(parts)
}

// Peer A: an honest storage node with a 3-block file.
const source = createMemoryBlockstore()
const data = new Uint8Array(randomBytes(2 * 256 * 1024 + 99))
const { cid: root } = await importBytes(source, data)
const honest = await serve(createTrustlessGateway(source))
// A liar answers every block request with 200 and the wrong bytes.
const liar = await serve(async () => new Response(new Uint8Array(randomBytes(64)), { headers: { 'Content-Type': 'application/vnd.ipld.raw' } }))
// An empty node: 404 for everything.
const empty = await serve(createTrustlessGateway(createMemoryBlockstore()))

test('a second blockstore fills itself from a peer so exportBytes works there', async () => {
  const local = await openBlockstore(join(dirs, 'b'))
  const store = withPeerFetch(local, [honest])
  assert.equal(await store.has(root), false, 'has() is local only')
  assert.deepEqual(await all(exportBytes(store, root)), data)
  for (const cid of await collectDagCids(source, root)) assert.equal(await local.has(cid), true, `${cid} kept locally`)
  // Now it works with no peers at all.
  assert.deepEqual(await all(exportBytes(withPeerFetch(local, []), root)), data)
})

test('a lying peer is refused (BLOCK_HASH_MISMATCH) and nothing is stored', async () => {
  const local = createMemoryBlockstore()
  const store = withPeerFetch(local, [liar])
  await assert.rejects(readBlock(store, root), (e) => isW3aError(e, 'BLOCK_HASH_MISMATCH') && e.message.includes(root.toString()))
  assert.equal(await local.has(root), false)
})

test('after a lying peer, the next peer is asked', async () => {
  const local = createMemoryBlockstore()
  const store = withPeerFetch(local, [liar, empty, honest])
  assert.deepEqual(await all(exportBytes(store, root)), data)
})

test('BLOCK_NOT_FOUND when reachable peers do not have it, PEER_UNREACHABLE when none answer', async () => {
  await assert.rejects(readBlock(withPeerFetch(createMemoryBlockstore(), [empty]), root), (e) => isW3aError(e, 'BLOCK_NOT_FOUND'))
  await assert.rejects(readBlock(withPeerFetch(createMemoryBlockstore(), []), root), (e) => isW3aError(e, 'BLOCK_NOT_FOUND'))

  // A port nobody listens on.
  const closed = await serve(async () => undefined)
  await servers.pop()!.close()
  await assert.rejects(readBlock(withPeerFetch(createMemoryBlockstore(), [closed]), root), (e) => isW3aError(e, 'PEER_UNREACHABLE'))

  // A peer that never answers: the timeout applies.
  const stuck = await serve(() => new Promise<Response>(() => undefined))
  const started = Date.now()
  await assert.rejects(
    readBlock(withPeerFetch(createMemoryBlockstore(), [stuck], { timeoutMs: 200 }), root),
    (e) => isW3aError(e, 'PEER_UNREACHABLE') && /timed out/.test(e.message),
  )
  assert.ok(Date.now() - started < 5000)
})

test('a corrupt local block is replaced by a verified copy from a peer', async () => {
  const dir = join(dirs, 'heal')
  const local = await openBlockstore(dir)
  const leaf = (await collectDagCids(source, root))[1]!
  await local.put(leaf, await readBlock(source, leaf))
  const name = base32upper.encode(leaf.multihash.bytes)
  await truncate(join(dir, name.slice(-2), `${name}.data`), 10)
  const store: Blockstore = withPeerFetch(local, [honest])
  assert.deepEqual(await readBlock(store, leaf), await readBlock(source, leaf))
  assert.deepEqual(await readBlock(local, leaf as CID), await readBlock(source, leaf))
})

test('two gateways that peer with each other: a block only one has is served by both; a block neither has is 404 at once, not a loop', async () => {
  let requests = 0
  const aStore = createMemoryBlockstore()
  const bStore = createMemoryBlockstore()
  const { cid: only } = await importBytes(aStore, new Uint8Array(randomBytes(1000)))
  // Each gateway's store asks the other: the handlers are made once both urls are known.
  const handlers: Record<'a' | 'b', (req: Request) => Promise<Response | undefined>> = { a: async () => undefined, b: async () => undefined }
  const a = await serve((req) => (requests++, handlers.a(req)))
  const b = await serve((req) => (requests++, handlers.b(req)))
  handlers.a = createTrustlessGateway(withPeerFetch(aStore, [`${b}/`], { timeoutMs: 2000 }))
  handlers.b = createTrustlessGateway(withPeerFetch(bStore, [`${a}/`], { timeoutMs: 2000 }))
  // B fetches the block from A (a copy stays on B), over the standard trustless path.
  const res = await fetch(`${b}/ipfs/${only}?format=raw`)
  assert.equal(res.status, 200)
  assert.equal(await bStore.has(only), true)
  // A peer's request (only-if-cached) for a block that is not here: 412, nothing asked further.
  const missing = (await importBytes(createMemoryBlockstore(), new Uint8Array(randomBytes(1000)))).cid
  const direct = await fetch(`${a}/ipfs/${missing}?format=raw`, { headers: { 'Cache-Control': 'only-if-cached' } })
  assert.equal(direct.status, 412)
  requests = 0
  assert.equal((await fetch(`${b}/ipfs/${missing}?format=car`)).status, 404)
  assert.equal(requests, 2, 'B asked A once, and A asked nobody')
})
