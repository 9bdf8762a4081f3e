/**
 * The gateway's POST /api/event served on node:http directly (ingest-relay.ts eventRoute): the
 * same limits and answers as the Request/Response path. The path to a running ingest worker is
 * covered end to end by test/web-analytics.test.ts and bench:ingest.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { serveHttp } from './http-server.js'
import { createIngestRelay } from './ingest-relay.js'

function post(url: string, body: string, path = '/api/event'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    const req = request({ host: u.hostname, port: u.port, path, method: 'POST', headers: { 'content-type': 'text/plain', 'user-agent': 'test' } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

test('POST /api/event on node:http: refusals with their codes, CORS, and other requests left to the handler', async () => {
  const relay = createIngestRelay({})
  const server = await serveHttp(async () => new Response('handler', { status: 418 }), { port: 0, nodeRoute: relay.eventRoute })
  try {
    const plaintext = await post(server.url, JSON.stringify({ n: 'pageview', u: 'https://a.example/', d: 'a.example' }))
    assert.equal(plaintext.status, 400)
    assert.equal(JSON.parse(plaintext.body).error.code, 'INVALID_ARGUMENT')
    assert.equal(plaintext.headers['access-control-allow-origin'], '*')

    const notJson = await post(server.url, '{not json')
    assert.equal(notJson.status, 400)
    assert.match(JSON.parse(notJson.body).error.message, /not JSON/)

    const big = await post(server.url, JSON.stringify({ c: 'x'.repeat(20_000) }))
    assert.equal(big.status, 413)
    assert.equal(JSON.parse(big.body).error.code, 'BODY_TOO_LARGE')
    assert.equal(big.headers['connection'], 'close')

    // No ingest worker yet: the visitor is told so, not left waiting.
    const noWorker = await post(server.url, JSON.stringify({ v: 1, s: '0x' + '1'.repeat(64), k: 'k', q: 0, c: 'c' }))
    assert.equal(JSON.parse(noWorker.body).error.code, 'WORKER_UNREACHABLE')

    const other = await post(server.url, '{}', '/api/other')
    assert.equal(other.status, 418)
    assert.equal(other.body, 'handler')
  } finally {
    await server.close()
  }
})
