/**
 * The gateway's web-analytics routes (issue 12). The gateway relays ciphertext only:
 *   GET  /js/w3a.js        the tracker bundle (dist/js/w3a.js)
 *   POST /api/event        a sealed event (src/tracker/event-format.ts) → the ingest worker,
 *                          with the request's IP and user agent (which the gateway, as the
 *                          visitor's HTTP peer, sees anyway; it neither logs nor stores them)
 *   GET  /api/v1/ingest    the ingest worker's attested info (the SDK checks its quote)
 *   POST /api/v1/sites     an owner-signed site registration (the site key sealed to the
 *                          ingest worker's attested key) → the ingest worker
 *   GET  /api/v1/ingest/status  registered sites, their manifests and waiting rows (public figures)
 *   POST /api/v1/sites/stats  an owner-signed realtime stats request → the ingest worker
 *   POST /api/v2/query     the same in Plausible's Stats API v2 shape: { site_id, metrics,
 *                          dimensions, date_range, w3a: { owner, salt, issuedAt, signature } }
 *                          (realtime only: the full Stats API is answered by jobs, whose answers
 *                          only the owner's key opens, so it runs on the owner's side: `w3a site api`)
 * A plaintext Plausible body is refused: accepting it would put visitors' URLs in the clear here.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { W3aError } from '../core/errors.js'
import { MAX_EVENT_CHARS } from '../enclave/ingest-open.js'
import { CLIENT_IP_HEADER } from './http-server.js'
import { json } from './http-json.js'

/** Where the ingest worker is (filled in once it runs). */
export type IngestTarget = { url?: string }

const TRACKER_FILE = join(dirname(fileURLToPath(import.meta.url)), '../../dist/js/w3a.js')
const MAX_EVENT_BODY = MAX_EVENT_CHARS + 512
const MAX_STATS_BODY = 4096

const CORS = { 'access-control-allow-origin': '*' }

async function bodyText(req: Request, max: number): Promise<string> {
  const text = await req.text()
  if (text.length > max) throw new W3aError('INVALID_ARGUMENT', `request body over ${max} bytes`)
  return text
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw new W3aError('INVALID_ARGUMENT', 'request body is not JSON')
  }
}

export function createIngestRelay(target: IngestTarget): (req: Request, pathname: string) => Promise<Response | null> {
  let tracker: Uint8Array | undefined
  const worker = (): string => {
    if (!target.url) throw new W3aError('WORKER_UNREACHABLE', 'no ingest worker is running yet')
    return target.url
  }
  async function forward(path: string, body: unknown): Promise<Response> {
    const res = await fetch(`${worker()}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).catch((cause) => {
      throw new W3aError('WORKER_UNREACHABLE', 'the ingest worker does not answer', { cause })
    })
    const headers: Record<string, string> = { ...CORS, 'content-type': 'application/json; charset=utf-8' }
    if (res.status === 429) headers['retry-after'] = '1'
    return new Response(await res.text(), { status: res.status, headers })
  }

  return async (req, pathname) => {
    if (req.method === 'GET' && pathname === '/js/w3a.js') {
      tracker ??= existsSync(TRACKER_FILE) ? readFileSync(TRACKER_FILE) : undefined
      if (!tracker) throw new W3aError('INTERNAL', 'the tracker is not built (npm run build:tracker)')
      return new Response(tracker as BodyInit, { headers: { ...CORS, 'content-type': 'application/javascript; charset=utf-8', 'cache-control': 'public, max-age=3600' } })
    }
    if (pathname === '/api/event') {
      if (req.method === 'OPTIONS') return new Response(null, { status: 204, headers: { ...CORS, 'access-control-allow-methods': 'POST', 'access-control-allow-headers': 'content-type' } })
      if (req.method !== 'POST') return new Response('method not allowed\n', { status: 405, headers: { allow: 'POST' } })
      const envelope = parse(await bodyText(req, MAX_EVENT_BODY)) as Record<string, unknown> | null
      if (envelope && typeof envelope === 'object' && 'n' in envelope && 'u' in envelope) {
        throw new W3aError('INVALID_ARGUMENT', 'this gateway takes sealed events only, not a plaintext Plausible body', { details: ['Use the W3A script tag (`w3a site snippet ID`): it seals the same body to the site\'s ingest key.'] })
      }
      return forward('/v1/ingest/event', { envelope, ip: req.headers.get(CLIENT_IP_HEADER) ?? '', userAgent: (req.headers.get('user-agent') ?? '').slice(0, 1024) })
    }
    if (req.method === 'GET' && pathname === '/api/v1/ingest') {
      const res = await fetch(`${worker()}/v1/info`).catch((cause) => {
        throw new W3aError('WORKER_UNREACHABLE', 'the ingest worker does not answer', { cause })
      })
      const info = (await res.json()) as Record<string, unknown>
      return json({ url: target.url, address: info['address'], hpkePublicKey: info['hpkePublicKey'], teeType: info['teeType'], measurement: info['measurement'], quote: info['quote'] })
    }
    if (pathname === '/api/v1/sites' && req.method === 'POST') {
      return forward('/v1/ingest/sites', { request: parse(await bodyText(req, MAX_STATS_BODY)) })
    }
    if (req.method === 'GET' && pathname === '/api/v1/ingest/status') {
      const res = await fetch(`${worker()}/v1/ingest/status`).catch((cause) => {
        throw new W3aError('WORKER_UNREACHABLE', 'the ingest worker does not answer', { cause })
      })
      return new Response(await res.text(), { status: res.status, headers: { ...CORS, 'content-type': 'application/json; charset=utf-8' } })
    }
    if (pathname === '/api/v1/sites/stats' && req.method === 'POST') {
      return forward('/v1/ingest/stats', { request: parse(await bodyText(req, MAX_STATS_BODY)) })
    }
    if (pathname === '/api/v2/query' && req.method === 'POST') {
      // Plausible's names mapped one to one; the enclave checks the owner's signature over the mapped request.
      const q = parse(await bodyText(req, MAX_STATS_BODY)) as { site_id?: unknown; metrics?: unknown; dimensions?: unknown; date_range?: unknown; w3a?: Record<string, unknown> } | null
      const request = { site: q?.site_id, metrics: q?.metrics, dimensions: q?.dimensions ?? [], period: q?.date_range, owner: q?.w3a?.['owner'], salt: q?.w3a?.['salt'], issuedAt: q?.w3a?.['issuedAt'], signature: q?.w3a?.['signature'] }
      return forward('/v1/ingest/stats', { request })
    }
    return null
  }
}
