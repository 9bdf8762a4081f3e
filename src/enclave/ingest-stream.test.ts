/**
 * The enclave's end of the gateway's event stream (ingest-stream.ts), on a real socket: lines in
 * any chunking, answers by id in the order events complete, and a gateway that breaks the
 * protocol loses its stream (its events are not guessed at).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { W3aError } from '../core/errors.js'
import type { IngestOutcome } from './ingest.js'
import { ACCEPTED_ANSWER, INGEST_STREAM_PROTOCOL, MAX_STREAM_LINE, serveIngestStream, type StreamedEvent } from './ingest-stream.js'

type Peer = { socket: Socket; head: Promise<string>; lines: string[]; closed: Promise<void>; next(n: number): Promise<string[]> }

async function streamServer(accept: (e: StreamedEvent) => Promise<IngestOutcome>): Promise<{ server: Server; open(): Promise<Peer> }> {
  const server = createServer((socket) => serveIngestStream(socket, accept))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  const open = async (): Promise<Peer> => {
    const socket = connect({ port, host: '127.0.0.1' })
    await new Promise((r) => socket.once('connect', r))
    let text = ''
    let resolveHead!: (h: string) => void
    const head = new Promise<string>((r) => (resolveHead = r))
    const lines: string[] = []
    let waiter: (() => void) | undefined
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => {
      text += d
      const end = text.indexOf('\r\n\r\n')
      if (end >= 0) resolveHead(text.slice(0, end))
      const body = end >= 0 ? text.slice(end + 4) : ''
      const all = body.split('\n')
      lines.splice(0, lines.length, ...all.slice(0, -1))
      waiter?.()
    })
    const closed = new Promise<void>((r) => socket.once('close', () => r()))
    const next = async (n: number): Promise<string[]> => {
      while (lines.length < n) await new Promise<void>((r) => (waiter = r))
      return lines.slice(0, n)
    }
    return { socket, head, lines, closed, next }
  }
  return { server, open }
}

const line = (id: unknown, q: number) => JSON.stringify({ id, envelope: { q }, ip: '192.0.2.1', userAgent: 'ua' }) + '\n'

test('events in any chunking are answered by id, as they complete; refusals carry their code', async () => {
  const { server, open } = await streamServer(async (e) => {
    const q = (e.envelope as { q: number }).q
    await new Promise((r) => setTimeout(r, 300 - q * 60))
    if (q === 2) throw new W3aError('SITE_NOT_REGISTERED', 'site x is not registered', { details: ['Register it.'] })
    if (q === 3) throw new Error('a bug')
    return q === 4 ? { accepted: false, reason: 'duplicate' } : { accepted: true }
  })
  try {
    const peer = await open()
    assert.match(await peer.head, new RegExp(`^HTTP/1.1 101 .*upgrade: ${INGEST_STREAM_PROTOCOL.replace('/', '\\/')}`, 's'))
    // One line in two writes, then three lines and half of the fifth in one, then the rest.
    const all = [line(10, 0), line(11, 1), line(12, 2), line(13, 3), line(14, 4)].join('')
    const cut1 = 20
    const cut2 = all.length - 15
    peer.socket.write(all.slice(0, cut1))
    await new Promise((r) => setTimeout(r, 20))
    peer.socket.write(all.slice(cut1, cut2))
    await new Promise((r) => setTimeout(r, 20))
    peer.socket.write(all.slice(cut2))
    const answers = await peer.next(5)
    const byId = new Map(answers.map((a) => [Number(a.slice(0, a.indexOf(' '))), JSON.parse(a.slice(a.indexOf(' ') + 1))]))
    assert.deepEqual(byId.get(10), JSON.parse(ACCEPTED_ANSWER))
    assert.deepEqual(byId.get(11), { ok: { accepted: true } })
    assert.deepEqual(byId.get(12), { error: { code: 'SITE_NOT_REGISTERED', message: 'site x is not registered', details: ['Register it.'] } })
    assert.equal(byId.get(13).error.code, 'INTERNAL')
    assert.deepEqual(byId.get(14), { ok: { accepted: false, reason: 'duplicate' } })
    assert.deepEqual(answers.map((a) => Number(a.split(' ')[0])), [14, 13, 12, 11, 10], 'answered as they completed, the quickest first')
    peer.socket.end()
    await peer.closed
  } finally {
    server.close()
  }
})

test('a gateway that breaks the protocol loses the stream: a line that is not JSON, an id that is not a whole number, a line longer than any event', async () => {
  const seen: unknown[] = []
  const { server, open } = await streamServer(async (e) => {
    seen.push(e.envelope)
    return { accepted: true }
  })
  try {
    for (const bad of ['{not json\n', line(-1, 0), line(1.5, 0), line('7', 0), JSON.stringify({ envelope: { q: 0 } }) + '\n', 'x'.repeat(MAX_STREAM_LINE + 10)]) {
      const peer = await open()
      await peer.head
      peer.socket.write(bad)
      await peer.closed
    }
    assert.deepEqual(seen, [], 'no event of a broken line was taken')
    // A line within the cap, after all that, on a new stream: served.
    const peer = await open()
    peer.socket.write(line(1, 5))
    assert.deepEqual(await peer.next(1), [`1 ${ACCEPTED_ANSWER}`])
    peer.socket.destroy()
  } finally {
    server.close()
  }
})
