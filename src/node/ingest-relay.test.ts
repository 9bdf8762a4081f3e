/**
 * The gateway's POST /api/event served on node:http directly (ingest-relay.ts eventRoute): the
 * same limits and answers as the Request/Response path. The path to a running ingest worker is
 * covered end to end by test/web-analytics.test.ts and bench:ingest; the batching to it, against a stand-in worker, here.
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

test('events relayed together: at most two relay requests out at once, each visitor gets their own answer, a worker that hangs up is WORKER_UNREACHABLE', async () => {
  // A stand-in ingest worker (node:http) that holds each batch a while, as the log's fsync does, and echoes each event's seq.
  let out = 0
  let most = 0
  const batches: number[] = []
  const worker = await serveHttp(async (req) => {
    out++
    most = Math.max(most, out)
    const { events } = (await req.json()) as { events: { envelope: { q: number } }[] }
    batches.push(events.length)
    await new Promise((r) => setTimeout(r, 30))
    out--
    return new Response(JSON.stringify(events.map((e) => ({ ok: { seq: e.envelope.q } }))), { headers: { 'content-type': 'application/json' } })
  }, { port: 0 })
  const target: { url?: string } = { url: worker.url }
  const relay = createIngestRelay(target)
  const server = await serveHttp(async () => new Response('handler', { status: 418 }), { port: 0, nodeRoute: relay.eventRoute })
  try {
    const answers = await Promise.all(Array.from({ length: 40 }, (_, q) => post(server.url, JSON.stringify({ v: 1, s: '0x' + '1'.repeat(64), k: 'k', q, c: 'c' }))))
    answers.forEach((a, q) => assert.deepEqual([a.status, JSON.parse(a.body)], [200, { seq: q }]))
    assert.ok(most <= 2, `${most} relay requests were out at once`)
    assert.equal(batches.reduce((a, b) => a + b, 0), 40)
    assert.ok(batches.length < 40, 'events arriving together share relay requests')

    // A worker that closes the connection without answering: the visitor is told, not left waiting.
    const hangUp = await serveHttp(async () => new Response('x'), { port: 0, nodeRoute: (_req, res) => (res.destroy(), true) })
    target.url = hangUp.url
    try {
      const a = await post(server.url, JSON.stringify({ v: 1, s: '0x' + '1'.repeat(64), k: 'k', q: 0, c: 'c' }))
      assert.equal(JSON.parse(a.body).error.code, 'WORKER_UNREACHABLE')
    } finally {
      await hangUp.close()
    }
  } finally {
    await server.close()
    await worker.close()
  }
})

test("each event's body reaches the worker as the visitor sent it, inside a batch whose IP and user agent are the request's (a body cannot set them)", async () => {
  const seen: string[] = []
  const worker = await serveHttp(async (req) => {
    const text = await req.text()
    seen.push(text)
    const { events } = JSON.parse(text) as { events: unknown[] }
    return new Response(JSON.stringify(events.map(() => ({ ok: { accepted: true } }))), { headers: { 'content-type': 'application/json' } })
  }, { port: 0 })
  const relay = createIngestRelay({ url: worker.url })
  const server = await serveHttp(async () => new Response('handler', { status: 418 }), { port: 0, nodeRoute: relay.eventRoute })
  try {
    // Odd spacing and key order, an "ip" of its own, a unicode escape: relayed byte for byte, parsed only by the enclave.
    const body = ' { "q" : 3, "ip": "6.6.6.6", "userAgent": "forged", "v":1, "s":"0x' + '1'.repeat(64) + '", "k":"k", "c":"\\u0063" } '
    const a = await post(server.url, body)
    assert.deepEqual([a.status, JSON.parse(a.body)], [200, { accepted: true }])
    assert.equal(seen.length, 1)
    assert.ok(seen[0]!.includes(body), 'the body is spliced in unchanged')
    const [event] = (JSON.parse(seen[0]!) as { events: { envelope: Record<string, unknown>; ip: string; userAgent: string }[] }).events
    assert.deepEqual([event!.ip, event!.userAgent, event!.envelope['ip'], event!.envelope['c']], ['127.0.0.1', 'test', '6.6.6.6', 'c'])
  } finally {
    await server.close()
    await worker.close()
  }
})

test('a worker slower than the arrivals: past the queue cap, events are answered 429 at once instead of piling up in the gateway', async () => {
  // A stand-in worker that holds every batch until released (hung, or far slower than the visitors).
  let release!: () => void
  const held = new Promise<void>((r) => (release = r))
  const worker = await serveHttp(async (req) => {
    const { events } = (await req.json()) as { events: unknown[] }
    await held
    return new Response(JSON.stringify(events.map(() => ({ ok: { accepted: true } }))), { headers: { 'content-type': 'application/json' } })
  }, { port: 0 })
  const relay = createIngestRelay({ url: worker.url }, { maxQueued: 3 })
  const server = await serveHttp(async () => new Response('handler', { status: 418 }), { port: 0, nodeRoute: relay.eventRoute })
  try {
    const event = (q: number) => JSON.stringify({ v: 1, s: '0x' + '1'.repeat(64), k: 'k', q, c: 'c' })
    // One at a time, so that two relay requests are out (held) and the next three wait in the queue.
    const waiting: Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>[] = []
    for (let q = 0; q < 5; q++) {
      waiting.push(post(server.url, event(q)))
      await new Promise((r) => setTimeout(r, 100))
    }
    const refused = await post(server.url, event(5))
    assert.equal(refused.status, 429)
    assert.equal(JSON.parse(refused.body).error.code, 'INGEST_BUSY')
    assert.equal(refused.headers['retry-after'], '1')
    release()
    for (const a of await Promise.all(waiting)) assert.deepEqual([a.status, JSON.parse(a.body)], [200, { accepted: true }])
  } finally {
    release()
    await server.close()
    await worker.close()
  }
})
