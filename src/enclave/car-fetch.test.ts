import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, test } from 'node:test'
import { isW3aError } from '../core/errors.js'
import { createMemoryBlockstore, createTrustlessGateway, importBytes, readCarFile } from '../storage/index.js'
import { carFetcher } from './car-fetch.js'

// A storage node's trustless gateway, mounted on a bare node:http server.
const store = createMemoryBlockstore()
const data = new Uint8Array(randomBytes(2 * 256 * 1024 + 3))
const { cid } = await importBytes(store, data)
const other = (await importBytes(createMemoryBlockstore(), new Uint8Array(randomBytes(100)))).cid
const gateway = createTrustlessGateway(store)
const server = createServer((req, res) => {
  void (async () => {
    const answer = (await gateway(new Request(`http://127.0.0.1${req.url}`, { headers: req.headers as Record<string, string> })))!
    const headers: Record<string, string> = {}
    answer.headers.forEach((v, k) => (headers[k] = v))
    res.writeHead(answer.status, headers)
    res.end(Buffer.from(await answer.arrayBuffer()))
  })()
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
after(() => new Promise<void>((resolve) => server.close(() => resolve())))

test('carFetcher streams a segment CAR that readCarFile checks back into the file', async () => {
  const out: Uint8Array[] = []
  for await (const piece of readCarFile(await carFetcher(url)(cid), { root: cid, size: data.length })) out.push(piece)
  assert.deepEqual(new Uint8Array(Buffer.concat(out)), data)
})

test('carFetcher: a segment the node does not serve is BLOCK_NOT_FOUND, a node that does not answer GATEWAY_UNREACHABLE', async () => {
  await assert.rejects(carFetcher(url)(other), (e) => isW3aError(e, 'BLOCK_NOT_FOUND') && e.message.includes(other.toString()))
  await assert.rejects(carFetcher('http://127.0.0.1:1')(cid), (e) => isW3aError(e, 'GATEWAY_UNREACHABLE'))
})
