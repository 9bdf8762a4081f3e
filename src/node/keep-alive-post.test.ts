import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { postJsonKeepAlive } from './keep-alive-post.js'

test('posts JSON and reads the answer on one kept-alive connection; a peer that never answers is a failure after the timeout, not a hang', async () => {
  const sockets = new Set<unknown>()
  let hang = false
  const server = createServer((req, res) => {
    sockets.add(req.socket)
    if (hang) return // never answers
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ got: JSON.parse(body), type: req.headers['content-type'] })))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`
  try {
    for (const n of [1, 2]) {
      const r = await postJsonKeepAlive(url, JSON.stringify({ n }))
      assert.deepEqual([r.status, JSON.parse(r.text)], [201, { got: { n }, type: 'application/json' }])
    }
    assert.equal(sockets.size, 1, 'the second request reused the connection')
    hang = true
    const t0 = Date.now()
    await assert.rejects(postJsonKeepAlive(url, '{}', 300), /no answer from .* in 0.3 s/)
    assert.ok(Date.now() - t0 < 5_000)
  } finally {
    server.closeAllConnections()
    server.close()
  }
})
