/**
 * The ingest stream: the gateway's sealed events straight into the ingest enclave, on one long
 * connection, with no request per event or per batch.
 *
 * The gateway opens it on the worker's endpoint (`GET /v1/ingest/stream`, `Upgrade:
 * w3a-ingest-stream/1`); the host hands the connection over to its enclave as it stands (in the
 * `sim` TEE, the socket itself crosses to the enclave process; a TDX worker's enclave is the VM
 * the connection ends in) and never reads it. What crosses it is what the gateway relayed before:
 * sealed envelopes, with the IP and user agent the gateway saw as the visitor's HTTP peer.
 *
 *   gateway → enclave  one JSON object a line: { "id": n, "envelope": {…}, "ip": "…", "userAgent": "…" }
 *   enclave → gateway  one line an answered event: `n {"ok":{…}}` or `n {"error":{code, message, details}}`
 *
 * Each event is answered once its log frame is durable (ingest-log.ts: group commit), in whatever
 * order frames complete; answers of one turn go out in one write. Nothing the gateway sends is
 * trusted: a line that is not JSON, has no integer id, or is longer than any relayed event can be
 * ends the stream (an honest gateway never sends one; it reconnects), and each event is checked
 * by `accept` as any other.
 */
import type { Socket } from 'node:net'
import { W3aError } from '../core/errors.js'
import { MAX_EVENT_CHARS } from './ingest-open.js'
import type { IngestOutcome } from './ingest.js'

export const INGEST_STREAM_PATH = '/v1/ingest/stream'
export const INGEST_STREAM_PROTOCOL = 'w3a-ingest-stream/1'
/** A line's bytes at most: an envelope of MAX_EVENT_CHARS (as the visitor's body, up to 512 more), an escaped 1,024-character user agent, an IP. */
export const MAX_STREAM_LINE = 4 * MAX_EVENT_CHARS
/** The common answer, written once. */
export const ACCEPTED_ANSWER = JSON.stringify({ ok: { accepted: true } })

export type StreamedEvent = { envelope: unknown; ip: unknown; userAgent: unknown }

/** One event's answer as the stream and the relayed batches carry it: `{ ok }` or `{ error }`, as JSON text. */
export function answerText(outcome: Promise<IngestOutcome>): Promise<string> {
  return outcome.then(
    (ok) => (ok.accepted ? ACCEPTED_ANSWER : JSON.stringify({ ok })),
    (err: unknown) => {
      const w = err instanceof W3aError ? err : new W3aError('INTERNAL', (err as Error)?.message ?? String(err))
      return JSON.stringify({ error: { code: w.code, message: w.shortMessage, details: [...(w.details ?? [])] } })
    },
  )
}

/** Serves the gateway's events on `socket` (already upgraded by the host; the 101 is written here, once the enclave holds it). */
export function serveIngestStream(socket: Socket, accept: (e: StreamedEvent) => Promise<IngestOutcome>): void {
  socket.setNoDelay(true)
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ${INGEST_STREAM_PROTOCOL}\r\n\r\n`)
  let out: string[] = []
  const send = (): void => {
    const text = out.join('')
    out = []
    if (!socket.destroyed) socket.write(text)
  }
  const answer = (id: number, text: string): void => {
    if (out.length === 0) setImmediate(send)
    out.push(`${id} ${text}\n`)
  }
  const line = (text: string): boolean => {
    let e: { id?: unknown; envelope?: unknown; ip?: unknown; userAgent?: unknown } | null
    try {
      e = JSON.parse(text) as typeof e
    } catch {
      return false
    }
    const id = e?.id
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) return false
    void answerText(accept({ envelope: e!.envelope, ip: e!.ip, userAgent: e!.userAgent })).then((t) => answer(id, t))
    return true
  }
  let rest: Buffer | undefined
  socket.on('data', (chunk: Buffer) => {
    const buf = rest ? Buffer.concat([rest, chunk]) : chunk
    let at = 0
    for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10, at)) {
      if (nl - at > MAX_STREAM_LINE || !line(buf.toString('utf8', at, nl))) return void socket.destroy()
      at = nl + 1
    }
    rest = at < buf.length ? buf.subarray(at) : undefined
    if (rest && rest.length > MAX_STREAM_LINE) return void socket.destroy()
    // One chunk a turn: libuv reads a busy socket up to 32 times in one poll, and the log frame of
    // these events (ingest-log.ts) and their answers wait until the turn is over.
    socket.pause()
    setImmediate(() => socket.resume())
  })
  socket.on('error', () => socket.destroy())
  // An HTTP server's sockets are half-open ones: the gateway's end is this stream's end too.
  socket.on('end', () => socket.end())
}
