import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { serveHttp, type FetchHandler } from './http-server.js'
import { readJsonBody } from './http-body.js'
import { json, errorResponse } from './http-json.js'

const LIMIT = 64 * 1024
const TOTAL = 200 * 1024 * 1024
const PIECE = new Uint8Array(64 * 1024).fill(0x61)

/** A 64 KiB JSON endpoint that counts the body bytes it was handed. */
function endpoint(): { handler: FetchHandler; read: () => number } {
  let read = 0
  const handler: FetchHandler = async (req) => {
    try {
      // Counted as the helper pulls them: what the node actually read off the socket.
      const counted = new Request(req.url, {
        method: req.method,
        headers: req.headers,
        body: req.body!.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ transform: (c, ctl) => ((read += c.byteLength), ctl.enqueue(c)) })),
        duplex: 'half',
      } as RequestInit)
      return json({ got: await readJsonBody(counted, LIMIT) })
    } catch (e) {
      return errorResponse(e)
    }
  }
  return { handler, read: () => read }
}

/**
 * Sends a 200 MiB POST over a raw socket (with a declared length, or chunked), writing as
 * fast as the socket takes it, until the server answers or closes. Returns what it answered
 * and how many body bytes the sender got rid of.
 */
async function flood(port: number, chunked: boolean): Promise<{ response: string; sent: number; closed: boolean }> {
  const socket = connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  let response = ''
  let closed = false
  socket.on('data', (d) => (response += d.toString('latin1')))
  const done = new Promise<void>((resolve) => {
    socket.once('close', () => ((closed = true), resolve()))
    socket.once('error', () => ((closed = true), resolve()))
  })
  const head = chunked ? 'transfer-encoding: chunked' : `content-length: ${TOTAL}`
  socket.write(`POST /v1/x HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n${head}\r\n\r\n`)
  let sent = 0
  while (sent < TOTAL && !closed && !response.includes('\r\n\r\n')) {
    const frame = chunked ? Buffer.concat([Buffer.from(`${PIECE.length.toString(16)}\r\n`), PIECE, Buffer.from('\r\n')]) : PIECE
    const more = socket.write(frame)
    sent += PIECE.length
    if (!more) await Promise.race([new Promise((r) => socket.once('drain', r)), done])
  }
  await Promise.race([done, new Promise((r) => setTimeout(r, 30_000).unref())])
  const closedByServer = closed
  socket.destroy()
  return { response, sent, closed: closedByServer }
}

for (const chunked of [false, true]) {
  test(`a 200 MiB POST${chunked ? ' (chunked, no declared length)' : ''} to a 64 KiB endpoint: 413 BODY_TOO_LARGE, connection closed, body not read`, async () => {
    const { handler, read } = endpoint()
    const server = await serveHttp(handler, { port: 0 })
    try {
      const { response, sent, closed } = await flood(server.port, chunked)
      assert.ok(closed, 'the server closed the connection')
      assert.match(response, /^HTTP\/1\.1 413 /)
      assert.match(response, /connection: close/i)
      assert.match(response, /"code":"BODY_TOO_LARGE"/)
      // The sender was stopped long before the end: the server closed instead of draining it.
      assert.ok(sent < TOTAL / 4, `sent ${sent} of ${TOTAL} bytes before the server closed`)
      // And the node pulled at most the limit and one more piece off the socket.
      assert.ok(read() <= LIMIT + 2 * PIECE.length, `the endpoint read ${read()} bytes`)
      if (!chunked) assert.equal(read(), 0, 'a declared length over the limit is refused before reading')
    } finally {
      await server.close()
    }
  })
}

test('a body under the limit is read whole; the connection is kept', async () => {
  const { handler } = endpoint()
  const server = await serveHttp(handler, { port: 0 })
  try {
    const res = await fetch(`${server.url}/v1/x`, { method: 'POST', body: JSON.stringify({ a: 'x'.repeat(1000) }) })
    assert.equal(res.status, 200)
    assert.equal(((await res.json()) as { got: { a: string } }).got.a.length, 1000)
    assert.notEqual(res.headers.get('connection'), 'close')
  } finally {
    await server.close()
  }
})
