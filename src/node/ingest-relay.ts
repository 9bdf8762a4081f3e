/**
 * The gateway's web-analytics routes (issue 12). The gateway relays ciphertext only:
 *   GET  /js/w3a.js        the tracker bundle (dist/js/w3a.js)
 *   POST /api/event        a sealed event (src/tracker/event-format.ts) → the ingest enclave, on
 *                          the event stream (ingest-stream-client.ts), with the request's IP and
 *                          user agent (which the gateway, as the visitor's HTTP peer, sees anyway;
 *                          it neither logs nor stores them)
 *   GET  /api/v1/ingest    the ingest worker's attested info (the SDK checks its quote)
 *   POST /api/v1/sites     an owner-signed site registration (the site key sealed to the
 *                          ingest worker's attested key) → the ingest worker
 *   GET  /api/v1/ingest/status  registered sites (id, domain), their manifests and waiting rows (public figures)
 *   POST /api/v1/sites/stats  an owner-signed realtime stats request → the ingest worker; its
 *                          answer comes back sealed to the request's box key and signed by the worker
 *   POST /api/v1/sites/settings       an owner-signed write of a site's goals and funnels (the
 *                          next version) → the ingest worker; its answer is signed by the worker
 *   POST /api/v1/sites/settings/read  an owner-signed read of them → the ingest worker
 *   POST /api/v2/query     the same in Plausible's Stats API v2 shape: { site_id, metrics,
 *                          dimensions, date_range, w3a: { owner, salt, box, issuedAt, signature } }
 *                          (realtime only: the full Stats API is answered by jobs, whose answers
 *                          only the owner's key opens, so it runs on the owner's side: `w3a site api`)
 *   GET  /my-data          the visitor's "my data" page (my-data-page.ts, docs/visitor.md)
 *   GET  /js/my-data.js    its script (dist/js/my-data.js)
 *   POST /api/v1/visitor   a visitor-signed export or delete request → the ingest worker
 * A plaintext Plausible body is refused: accepting it would put visitors' URLs in the clear here.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { W3aError, type W3aErrorCode } from '../core/errors.js'
import { MAX_EVENT_CHARS } from '../enclave/ingest-open.js'
import { MAX_SITE_SETTINGS_BODY } from '../enclave/ingest-site-settings.js'
import { CLIENT_IP_HEADER, type NodeRoute } from './http-server.js'
import { errorStatus, json } from './http-json.js'
import { toJsonText } from '../core/json-text.js'
import { readBodyText, readJsonBody, readNodeBody } from './http-body.js'
import { MY_DATA_HTML } from './my-data-page.js'
import { IngestStreamClient, type StreamItem } from './ingest-stream-client.js'
import { ACCEPTED_ANSWER } from '../enclave/ingest-stream.js'

/** Where the ingest worker is (filled in once it runs). */
export type IngestTarget = { url?: string }

const JS_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../dist/js')
/** Scripts the gateway serves, read once. */
const SCRIPTS: Record<string, string> = { '/js/w3a.js': 'w3a.js', '/js/my-data.js': 'my-data.js' }
const MAX_EVENT_BODY = MAX_EVENT_CHARS + 512
const MAX_STATS_BODY = 4096

const CORS = { 'access-control-allow-origin': '*' }
/**
 * Events waiting for the ingest worker's answer (sent on the stream, or queued for the next write),
 * at most: past it a visitor's event is answered 429 at once. Without it a worker slower than the
 * arrivals (or hung) let the events held grow with every request any client posted, each holding
 * its body and its connection, until the gateway ran out of memory.
 */
export const MAX_QUEUED_EVENTS = 10_000
/** Events sent in one write at most (more wait for the next). */
const STREAM_WRITE_EVENTS = 64

/** CORS on every relayed answer; a 429 says when to retry. */
function withRelayHeaders(res: Response): Response {
  for (const [k, v] of Object.entries(CORS)) res.headers.set(k, v)
  if (res.status === 429) res.headers.set('retry-after', '1')
  return res
}

/** What the relay answers a visitor's event: the worker's status and JSON body. */
type RelayAnswer = { status: number; body: string }
/** The common answer, made once. */
const ACCEPTED: RelayAnswer = { status: 200, body: toJsonText({ accepted: true }) }

const EVENT_HEADERS: Record<string, string> = { ...CORS, 'content-type': 'application/json; charset=utf-8' }
const BUSY_HEADERS: Record<string, string> = { ...EVENT_HEADERS, 'retry-after': '1' }

/** CORS on every event answer; a 429 says when to retry. */
function relayHeaders(a: RelayAnswer): Record<string, string> {
  return a.status === 429 ? BUSY_HEADERS : EVENT_HEADERS
}

function errorAnswer(e: unknown): RelayAnswer {
  const err = e instanceof W3aError ? e : new W3aError('INTERNAL', 'internal error')
  return { status: errorStatus(err), body: toJsonText(err.toJSON()) }
}

export type IngestRelay = ((req: Request, pathname: string) => Promise<Response | null>) & { eventRoute: NodeRoute; close(): void }

/** `maxQueued`: MAX_QUEUED_EVENTS, `answerTimeoutMs`: the stream's 30 s (tests pass less). */
export function createIngestRelay(target: IngestTarget, o: { maxQueued?: number; answerTimeoutMs?: number } = {}): IngestRelay {
  const maxQueued = o.maxQueued ?? MAX_QUEUED_EVENTS
  const scripts = new Map<string, Uint8Array>()
  const worker = (): string => {
    if (!target.url) throw new W3aError('WORKER_UNREACHABLE', 'no ingest worker is running yet')
    return target.url
  }
  async function forward(path: string, body: unknown): Promise<Response> {
    const res = await fetch(`${worker()}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).catch((cause) => {
      throw new W3aError('WORKER_UNREACHABLE', 'the ingest worker does not answer', { cause })
    })
    return withRelayHeaders(new Response(await res.text(), { status: res.status, headers: { 'content-type': 'application/json; charset=utf-8' } }))
  }

  /**
   * Events go to the worker on one stream (ingest-stream-client.ts): those arriving in the same
   * turn in one write. Each visitor gets their own answer, once their event is durable.
   */
  const stream = new IngestStreamClient(o.answerTimeoutMs !== undefined ? { answerTimeoutMs: o.answerTimeoutMs } : {})
  let queue: StreamItem[] = []
  let scheduled = false
  const answerOf = (text: string | Error): RelayAnswer => {
    if (text instanceof Error) return errorAnswer(new W3aError('WORKER_UNREACHABLE', 'the ingest worker does not answer', { cause: text }))
    if (text === ACCEPTED_ANSWER) return ACCEPTED
    try {
      const r = JSON.parse(text) as { ok?: unknown; error?: { code: W3aErrorCode; message: string; details?: string[] } }
      return r.error ? errorAnswer(new W3aError(r.error.code, r.error.message, { details: r.error.details ?? [] })) : { status: 200, body: toJsonText(r.ok) }
    } catch {
      return errorAnswer(new W3aError('INTERNAL', 'the ingest worker answered something that is not JSON'))
    }
  }
  const flush = (): void => {
    const batch = queue
    queue = []
    if (batch.length === 0) return
    if (!target.url) {
      const none = new Error('no ingest worker is running yet')
      for (const b of batch) b.done(none)
      return
    }
    void stream.send(target.url, batch)
  }
  const flushLater = (): void => {
    scheduled = false
    flush()
  }
  /**
   * One sealed event body, as the visitor sent it, with the request's IP and user agent: the
   * answer to give the visitor. The body is parsed only to refuse what is not JSON (it is
   * relayed as the text it came in, inside a stream line that must stay valid JSON) or is a plaintext
   * Plausible body; the enclave checks everything else.
   */
  function relayEvent(body: string, ip: string, userAgent: string): Promise<RelayAnswer> {
    let envelope: unknown
    try {
      envelope = JSON.parse(body)
    } catch {
      return Promise.resolve(errorAnswer(new W3aError('INVALID_ARGUMENT', 'request body is not JSON')))
    }
    if (envelope && typeof envelope === 'object' && 'n' in envelope && 'u' in envelope) {
      return Promise.resolve(errorAnswer(new W3aError('INVALID_ARGUMENT', 'this gateway takes sealed events only, not a plaintext Plausible body', { details: ['Use the W3A script tag (`w3a site snippet ID`): it seals the same body to the site\'s ingest key.'] })))
    }
    if (queue.length + stream.inFlight >= maxQueued) {
      return Promise.resolve(errorAnswer(new W3aError('INGEST_BUSY', 'the gateway holds as many events for the ingest worker as it queues', { details: ['Retry after a second.'] })))
    }
    return new Promise((resolve) => {
      queue.push({ item: `{"envelope":${body},"ip":${JSON.stringify(ip)},"userAgent":${JSON.stringify(userAgent.slice(0, 1024))}}`, done: (a) => resolve(answerOf(a)) })
      // Sent when the turn is over, or at once when a write's worth is waiting: a busy gateway
      // reads hundreds of requests in one turn, and the first would wait for the last.
      if (queue.length >= STREAM_WRITE_EVENTS) flush()
      else if (!scheduled) (scheduled = true), setImmediate(flushLater)
    })
  }

  /**
   * POST /api/event on node:http directly (http-server.ts NodeRoute): the busiest route, one
   * small body per visitor event, where the Request/Response conversion cost more than the
   * relay. Same limits and answers as the FetchHandler path below.
   */
  const eventRoute: NodeRoute = (req, res) => {
    if (req.method !== 'POST' || req.url !== '/api/event') return false
    readNodeBody(req, MAX_EVENT_BODY)
      .then((body) => relayEvent(body.toString('utf8'), req.socket.remoteAddress ?? '', String(req.headers['user-agent'] ?? '')))
      .then(
        (a) => res.writeHead(a.status, relayHeaders(a)).end(a.body),
        (e: unknown) => {
          if (res.destroyed) return // the visitor hung up mid-body
          // Otherwise only BODY_TOO_LARGE comes here: the rest of the body is unread, so the connection closes after the answer.
          const a = errorAnswer(e)
          res.writeHead(a.status, { ...relayHeaders(a), connection: 'close' }).end(a.body)
        },
      )
    req.on('error', () => res.destroy())
    return true
  }

  const route = async (req: Request, pathname: string): Promise<Response | null> => {
    const script = req.method === 'GET' ? SCRIPTS[pathname] : undefined
    if (script) {
      const file = join(JS_DIR, script)
      if (!scripts.has(script) && existsSync(file)) scripts.set(script, readFileSync(file))
      const bytes = scripts.get(script)
      if (!bytes) throw new W3aError('INTERNAL', `${script} is not built (npm run build:tracker)`)
      return new Response(bytes as BodyInit, { headers: { ...CORS, 'content-type': 'application/javascript; charset=utf-8', 'cache-control': 'public, max-age=3600' } })
    }
    if (req.method === 'GET' && pathname === '/my-data') {
      // Its own origin's script only; the page is never framed (the visitor's clicks are theirs).
      const csp = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
      return new Response(MY_DATA_HTML, { headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': csp, 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY' } })
    }
    if (pathname === '/api/v1/visitor' && req.method === 'POST') {
      return forward('/v1/ingest/visitor', { request: await readJsonBody(req, MAX_STATS_BODY) })
    }
    if (pathname === '/api/event') {
      if (req.method === 'OPTIONS') return new Response(null, { status: 204, headers: { ...CORS, 'access-control-allow-methods': 'POST', 'access-control-allow-headers': 'content-type' } })
      if (req.method !== 'POST') return new Response('method not allowed\n', { status: 405, headers: { allow: 'POST' } })
      const a = await relayEvent(await readBodyText(req, MAX_EVENT_BODY), req.headers.get(CLIENT_IP_HEADER) ?? '', req.headers.get('user-agent') ?? '')
      return new Response(a.body, { status: a.status, headers: relayHeaders(a) })
    }
    if (req.method === 'GET' && pathname === '/api/v1/ingest') {
      const res = await fetch(`${worker()}/v1/info`).catch((cause) => {
        throw new W3aError('WORKER_UNREACHABLE', 'the ingest worker does not answer', { cause })
      })
      const info = (await res.json()) as Record<string, unknown>
      return json({ url: target.url, address: info['address'], hpkePublicKey: info['hpkePublicKey'], teeType: info['teeType'], measurement: info['measurement'], quote: info['quote'] })
    }
    if (pathname === '/api/v1/sites' && req.method === 'POST') {
      return forward('/v1/ingest/sites', { request: await readJsonBody(req, MAX_STATS_BODY) })
    }
    if (req.method === 'GET' && pathname === '/api/v1/ingest/status') {
      const res = await fetch(`${worker()}/v1/ingest/status`).catch((cause) => {
        throw new W3aError('WORKER_UNREACHABLE', 'the ingest worker does not answer', { cause })
      })
      return new Response(await res.text(), { status: res.status, headers: { ...CORS, 'content-type': 'application/json; charset=utf-8' } })
    }
    if (pathname === '/api/v1/sites/stats' && req.method === 'POST') {
      return forward('/v1/ingest/stats', { request: (await readJsonBody(req, MAX_STATS_BODY)) })
    }
    if (pathname === '/api/v1/sites/settings' && req.method === 'POST') {
      return forward('/v1/ingest/site-settings', { request: await readJsonBody(req, MAX_SITE_SETTINGS_BODY) })
    }
    if (pathname === '/api/v1/sites/settings/read' && req.method === 'POST') {
      return forward('/v1/ingest/site-settings/read', { request: await readJsonBody(req, MAX_STATS_BODY) })
    }
    if (pathname === '/api/v2/query' && req.method === 'POST') {
      // Plausible's names mapped one to one; the enclave checks the owner's signature over the mapped request.
      const q = (await readJsonBody(req, MAX_STATS_BODY)) as { site_id?: unknown; metrics?: unknown; dimensions?: unknown; date_range?: unknown; w3a?: Record<string, unknown> } | null
      const request = { site: q?.site_id, metrics: q?.metrics, dimensions: q?.dimensions ?? [], period: q?.date_range, owner: q?.w3a?.['owner'], salt: q?.w3a?.['salt'], box: q?.w3a?.['box'], issuedAt: q?.w3a?.['issuedAt'], signature: q?.w3a?.['signature'] }
      return forward('/v1/ingest/stats', { request })
    }
    return null
  }
  return Object.assign(route, { eventRoute, close: () => stream.close() })
}
