/**
 * The gateway's end of the ingest stream (src/enclave/ingest-stream.ts): one long connection to
 * the ingest worker, upgraded on `GET /v1/ingest/stream`, that the worker hands over to its
 * enclave. Events go out as lines as soon as they are queued (one write a turn) and their answers
 * come back by id whenever their log frame is durable: no request per batch and no limit of
 * batches out at once, so the enclave is never left waiting for the next batch.
 *
 * A stream that closes, cannot be opened, or leaves an event unanswered for 30 s (a hung worker)
 * fails every event it holds; the next events open a new one.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Socket } from 'node:net'
import { INGEST_STREAM_PATH, INGEST_STREAM_PROTOCOL } from '../enclave/ingest-stream.js'

const CONNECT_TIMEOUT_MS = 10_000
const ANSWER_TIMEOUT_MS = 30_000
/** Answer text the worker sent without a line end, at most: more is not the enclave's answers. */
const MAX_PARTIAL_ANSWER = 1024 * 1024

/** What becomes of an event sent: its answer's JSON text, or why the stream failed. */
export type StreamWaiter = (answer: string | Error) => void
/** An event to send: the JSON text of `{ envelope, ip, userAgent }` (valid JSON), and who waits for its answer. */
export type StreamItem = { item: string; done: StreamWaiter }

type Connection = { socket: Socket; url: string; waiting: Map<number, { at: number; done: StreamWaiter }>; partial: string }

export class IngestStreamClient {
  private current: Connection | undefined
  private connecting: Promise<Connection> | undefined
  private nextId = 0
  private timer: NodeJS.Timeout | undefined
  private closed = false
  private readonly answerTimeoutMs: number

  /** `answerTimeoutMs`: 30 s (tests pass less). */
  constructor(o: { answerTimeoutMs?: number } = {}) {
    this.answerTimeoutMs = o.answerTimeoutMs ?? ANSWER_TIMEOUT_MS
  }

  /** Events sent and not yet answered. */
  get inFlight(): number {
    return this.current?.waiting.size ?? 0
  }

  /** Sends `items` to the ingest worker at `url` in one write; each waiter hears its event's answer, or the failure. */
  async send(url: string, items: StreamItem[]): Promise<void> {
    let c: Connection
    try {
      c = await this.connection(url)
    } catch (e) {
      for (const it of items) it.done(e as Error)
      return
    }
    if (c.socket.destroyed) {
      for (const it of items) it.done(new Error('the ingest worker closed the event stream'))
      return
    }
    const at = Date.now()
    let text = ''
    for (const it of items) {
      const id = this.nextId++
      c.waiting.set(id, { at, done: it.done })
      // Lines end at LF; in valid JSON a raw LF can only be whitespace, so a space stands in for it.
      const body = it.item.includes('\n') ? it.item.replace(/\n/g, ' ') : it.item
      text += `{"id":${id},${body.slice(1)}\n`
    }
    c.socket.write(text)
  }

  close(): void {
    this.closed = true
    clearInterval(this.timer)
    this.current?.socket.destroy()
  }

  private connection(url: string): Promise<Connection> {
    if (this.closed) return Promise.reject(new Error('the gateway is stopping'))
    const c = this.current
    if (c && c.url === url && !c.socket.destroyed) return Promise.resolve(c)
    if (c) c.socket.destroy() // the worker moved
    return (this.connecting ??= this.connect(url).finally(() => (this.connecting = undefined)))
  }

  private connect(url: string): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const request = url.startsWith('https:') ? httpsRequest : httpRequest
      const req = request(`${url}${INGEST_STREAM_PATH}`, { headers: { connection: 'upgrade', upgrade: INGEST_STREAM_PROTOCOL }, timeout: CONNECT_TIMEOUT_MS })
      req.on('upgrade', (_res: IncomingMessage, socket: Socket, head: Buffer) => resolve(this.attach(socket, url, head)))
      req.on('response', (res: IncomingMessage) => {
        res.resume()
        reject(new Error(`the ingest worker does not take the event stream (HTTP ${res.statusCode})`))
      })
      req.on('timeout', () => req.destroy(new Error(`the ingest worker did not open the event stream in ${CONNECT_TIMEOUT_MS / 1000} s`)))
      req.on('error', reject)
      req.end()
    })
  }

  private attach(socket: Socket, url: string, head: Buffer): Connection {
    const c: Connection = { socket, url, waiting: new Map(), partial: '' }
    if (this.closed) socket.destroy()
    this.current = c
    socket.setNoDelay(true)
    // The gateway's server keeps the process up; an open stream alone must not.
    socket.unref()
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => this.read(c, d))
    socket.on('error', () => socket.destroy())
    socket.on('close', () => {
      if (this.current === c) this.current = undefined
      const failure = new Error('the ingest worker closed the event stream')
      for (const w of c.waiting.values()) w.done(failure)
      c.waiting.clear()
    })
    if (head.length > 0) this.read(c, head.toString('utf8'))
    this.timer ??= setInterval(() => this.checkAnswered(), this.answerTimeoutMs / 6).unref()
    return c
  }

  /** Answer lines `id json`; the waiter of each id hears its json once. */
  private read(c: Connection, d: string): void {
    const text = c.partial + d
    let at = 0
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', at)) {
      const space = text.indexOf(' ', at)
      const id = Number(text.slice(at, space))
      const w = c.waiting.get(id)
      if (w && space < nl) {
        c.waiting.delete(id)
        w.done(text.slice(space + 1, nl))
      }
      at = nl + 1
    }
    c.partial = text.slice(at)
    if (c.partial.length > MAX_PARTIAL_ANSWER) c.socket.destroy()
  }

  /** A worker that leaves an event unanswered for 30 s is hung: the stream fails its events (the oldest is first). */
  private checkAnswered(): void {
    const c = this.current
    const oldest = c?.waiting.values().next().value
    if (c && oldest && Date.now() - oldest.at > this.answerTimeoutMs) c.socket.destroy()
  }
}
