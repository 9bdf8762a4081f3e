/**
 * The worker host's end of the ingest stream (ingest-stream-route.ts): only the stream's upgrade
 * on its path is handed to the enclave, unread; what the enclave refuses is closed. The enclave
 * here is a stand-in caller serving the stream in this process (the handle crossing to a real
 * enclave process is covered by test/web-analytics.test.ts and bench:ingest).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import type { Socket } from 'node:net'
import { W3aError } from '../../core/errors.js'
import { INGEST_STREAM_PATH, INGEST_STREAM_PROTOCOL, serveIngestStream } from '../../enclave/ingest-stream.js'
import { serveHttp } from '../http-server.js'
import { IngestStreamClient } from '../ingest-stream-client.js'
import type { EnclaveCaller } from './enclave-caller.js'
import { acceptIngestStreams } from './ingest-stream-route.js'

function upgrade(url: string, path: string, protocol: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { headers: { connection: 'upgrade', upgrade: protocol } })
    req.on('upgrade', (res, socket: Socket) => {
      socket.destroy()
      resolve(res.statusCode!)
    })
    req.on('response', (res) => {
      res.resume()
      resolve(res.statusCode!)
    })
    req.on('error', reject)
    req.end()
  })
}

test('the stream upgrade is handed to the enclave with its connection; anything else is refused, and so is what the enclave refuses', async () => {
  const calls: { method: string; params: unknown }[] = []
  let refuse = false
  const caller: EnclaveCaller = {
    async call<T>(method: string, params?: unknown, connection?: Socket): Promise<T> {
      calls.push({ method, params })
      if (refuse) throw new W3aError('STATE_NOT_FRESH', 'not fresh')
      serveIngestStream(connection!, async () => ({ accepted: true }))
      return undefined as T
    },
    close() {},
  }
  const logged: string[] = []
  const server = await serveHttp(async () => new Response('handler', { status: 418 }), { port: 0 })
  acceptIngestStreams(server.server, caller, (l) => logged.push(l))
  const client = new IngestStreamClient()
  try {
    assert.equal(await upgrade(server.url, '/v1/other', INGEST_STREAM_PROTOCOL), 400)
    assert.equal(await upgrade(server.url, INGEST_STREAM_PATH, 'websocket'), 400)
    assert.deepEqual(calls, [], 'nothing else reaches the enclave')

    const answer = await new Promise<string | Error>((done) => void client.send(server.url, [{ item: '{"envelope":{},"ip":"192.0.2.1","userAgent":"ua"}', done }]))
    assert.equal(answer, '{"ok":{"accepted":true}}')
    assert.deepEqual(calls, [{ method: 'ingestStream', params: {} }])

    refuse = true
    const refused = new IngestStreamClient()
    const failed = await new Promise<string | Error>((done) => void refused.send(server.url, [{ item: '{}', done }]))
    refused.close()
    assert.ok(failed instanceof Error, 'a refused stream fails its events')
    assert.match(logged.join('\n'), /ingest stream refused: not fresh/)
  } finally {
    client.close()
    await server.close()
  }
})
