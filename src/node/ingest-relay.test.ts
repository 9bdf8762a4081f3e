/**
 * The gateway's POST /api/event served on node:http directly (ingest-relay.ts eventRoute): the
 * same limits and answers as the Request/Response path. The path to a running ingest worker is
 * covered end to end by test/web-analytics.test.ts and bench:ingest; the event stream to it here,
 * against a stand-in worker: a node:http server whose upgrade is served by the enclave's own end
 * of the stream (src/enclave/ingest-stream.ts) with a stand-in `accept`.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import type { Socket } from 'node:net'
import { serveHttp, type HttpServer } from './http-server.js'
import { createIngestRelay } from './ingest-relay.js'
import { serveIngestStream, type StreamedEvent } from '../enclave/ingest-stream.js'
import type { IngestOutcome } from '../enclave/ingest.js'
import { W3aError } from '../core/errors.js'

/** A stand-in ingest worker: each stream opened on it is served with `accept`; `streams` counts them. */
async function standInWorker(accept: (e: StreamedEvent) => Promise<IngestOutcome>): Promise<HttpServer & { streams: number }> {
  const server = await serveHttp(async () => new Response('not found', { status: 404 }), { port: 0 })
  const w = Object.assign(server, { streams: 0 })
  server.server.on('upgrade', (_req, socket: Socket) => {
    w.streams++
    serveIngestStream(socket, accept)
  })
  return w
}

const sealed = (q: number) => JSON.stringify({ v: 1, s: '0x' + '1'.repeat(64), k: 'k', q, c: 'c' })

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

test('events go on one stream: each visitor gets their own answer, in whatever order the worker answers', async () => {
  // Later events answered first (as frames complete in any order), each with its own outcome.
  const worker = await standInWorker(async (e) => {
    const q = (e.envelope as { q: number }).q
    await new Promise((r) => setTimeout(r, 200 - q * 4))
    if (q === 7) throw new W3aError('INVALID_ARGUMENT', 'event 7: c is not base64url')
    return { accepted: false, reason: `seq ${q}` } as unknown as IngestOutcome
  })
  const relay = createIngestRelay({ url: worker.url })
  const server = await serveHttp(async () => new Response('handler', { status: 418 }), { port: 0, nodeRoute: relay.eventRoute })
  try {
    const answers = await Promise.all(Array.from({ length: 40 }, (_, q) => post(server.url, sealed(q))))
    answers.forEach((a, q) => {
      if (q === 7) assert.deepEqual([a.status, JSON.parse(a.body).error.code], [400, 'INVALID_ARGUMENT'])
      else assert.deepEqual([a.status, JSON.parse(a.body)], [200, { accepted: false, reason: `seq ${q}` }])
    })
    assert.equal(worker.streams, 1, 'one stream carries every event')
  } finally {
    relay.close()
    await server.close()
    await worker.close()
  }
})

test('a worker that closes the stream, refuses it, or leaves an event unanswered: the visitor is told WORKER_UNREACHABLE, and the next event opens a new stream', async () => {
  let mode: 'hang up' | 'hang' | 'answer' = 'hang up'
  const worker = await standInWorker(async () => {
    if (mode === 'hang up') throw Object.assign(new Error('x'), { hangUp: true })
    if (mode === 'hang') return new Promise<IngestOutcome>(() => {})
    return { accepted: true }
  })
  // Hanging up: the stand-in ends the stream of an event it will not answer.
  worker.server.prependListener('upgrade', (_req, socket: Socket) => socket.once('data', () => mode === 'hang up' && socket.destroy()))
  const relay = createIngestRelay({ url: worker.url }, { answerTimeoutMs: 600 })
  const server = await serveHttp(async () => new Response('handler', { status: 418 }), { port: 0, nodeRoute: relay.eventRoute })
  const notStream = await serveHttp(async () => new Response('no such route', { status: 404 }), { port: 0 })
  try {
    assert.equal(JSON.parse((await post(server.url, sealed(0))).body).error.code, 'WORKER_UNREACHABLE')
    mode = 'hang'
    const t0 = Date.now()
    const hung = await post(server.url, sealed(1))
    assert.equal(JSON.parse(hung.body).error.code, 'WORKER_UNREACHABLE')
    assert.ok(Date.now() - t0 < 5_000, 'a hung worker is given up on after the answer timeout')
    mode = 'answer'
    assert.deepEqual(JSON.parse((await post(server.url, sealed(2))).body), { accepted: true })
    assert.equal(worker.streams, 3, 'each failure was followed by a new stream')

    // A worker that does not take the stream (no upgrade): told, not left waiting.
    const other = createIngestRelay({ url: notStream.url })
    const server2 = await serveHttp(async () => new Response('handler', { status: 418 }), { port: 0, nodeRoute: other.eventRoute })
    try {
      const a = await post(server2.url, sealed(3))
      assert.equal(JSON.parse(a.body).error.code, 'WORKER_UNREACHABLE')
    } finally {
      other.close()
      await server2.close()
    }
  } finally {
    relay.close()
    await server.close()
    await worker.close()
    await notStream.close()
  }
})

test("each event's body reaches the enclave as the visitor sent it, with the request's IP and user agent (a body cannot set them, nor end its line)", async () => {
  const seen: StreamedEvent[] = []
  const worker = await standInWorker(async (e) => {
    seen.push(e)
    return { accepted: true }
  })
  const relay = createIngestRelay({ url: worker.url })
  const server = await serveHttp(async () => new Response('handler', { status: 418 }), { port: 0, nodeRoute: relay.eventRoute })
  try {
    // Odd spacing, line ends and key order, an "ip" of its own, a unicode escape: parsed only by the enclave.
    const body = ' {\n "q" : 3,\r\n "ip": "6.6.6.6", "userAgent": "forged",\n"v":1, "s":"0x' + '1'.repeat(64) + '", "k":"k", "c":"\\u0063" }\n'
    const a = await post(server.url, body)
    assert.deepEqual([a.status, JSON.parse(a.body)], [200, { accepted: true }])
    assert.equal(seen.length, 1)
    assert.deepEqual(seen[0]!.envelope, JSON.parse(body), 'the envelope the visitor sent')
    assert.deepEqual([seen[0]!.ip, seen[0]!.userAgent, (seen[0]!.envelope as Record<string, unknown>)['c']], ['127.0.0.1', 'test', 'c'])
  } finally {
    relay.close()
    await server.close()
    await worker.close()
  }
})

test('a worker slower than the arrivals: past the cap of events held, events are answered 429 at once instead of piling up in the gateway', async () => {
  // A stand-in worker that holds every event until released (hung, or far slower than the visitors).
  let release!: () => void
  const held = new Promise<void>((r) => (release = r))
  const worker = await standInWorker(async () => {
    await held
    return { accepted: true }
  })
  const relay = createIngestRelay({ url: worker.url }, { maxQueued: 3 })
  const server = await serveHttp(async () => new Response('handler', { status: 418 }), { port: 0, nodeRoute: relay.eventRoute })
  try {
    const waiting = [0, 1, 2].map((q) => post(server.url, sealed(q)))
    await new Promise((r) => setTimeout(r, 300))
    const refused = await post(server.url, sealed(3))
    assert.equal(refused.status, 429)
    assert.equal(JSON.parse(refused.body).error.code, 'INGEST_BUSY')
    assert.equal(refused.headers['retry-after'], '1')
    release()
    for (const a of await Promise.all(waiting)) assert.deepEqual([a.status, JSON.parse(a.body)], [200, { accepted: true }])
    assert.deepEqual(JSON.parse((await post(server.url, sealed(4))).body), { accepted: true }, 'answered events no longer count against the cap')
  } finally {
    release()
    relay.close()
    await server.close()
    await worker.close()
  }
})
