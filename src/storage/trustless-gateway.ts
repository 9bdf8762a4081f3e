/**
 * The IPFS trustless gateway (https://specs.ipfs.tech/http-gateways/trustless-gateway/),
 * the subset storage nodes speak to each other and to Kubo:
 *
 *   GET|HEAD /ipfs/{cid}?format=raw   (or Accept: application/vnd.ipld.raw)  → one block
 *   GET|HEAD /ipfs/{cid}?format=car   (or Accept: application/vnd.ipld.car)  → CARv1 of the DAG
 *
 * Trustless only: every response can be checked against the CID by the client, so we
 * never deserialize (no UnixFS files, no HTML). Content paths, `entity-bytes` and CARv2
 * are not supported. A block that is not here is fetched through the blockstore (a peer-fetching
 * one asks its peers), unless the request says `Cache-Control: only-if-cached` (what peers send
 * each other, so two gateways that peer with each other never ask in a circle): then 412. Written against the web-standard Request/Response so any HTTP
 * server (node:http adapter, a fetch-style router) can mount it.
 */
import type { Blockstore } from 'interface-blockstore'
import { CID } from 'multiformats/cid'
import { isW3aError } from '../core/errors.js'
import { exportCar } from './car.js'
import { isNotFound, readBlock } from './blockstore.js'
import type { DagScope } from './dag-walk.js'
import { IDENTITY } from './verify-block.js'

const RAW = 'application/vnd.ipld.raw'
const CAR = 'application/vnd.ipld.car'
const CAR_RESPONSE_TYPE = `${CAR}; version=1; order=dfs; dups=n`
const IMMUTABLE = 'public, max-age=29030400, immutable'

type Format = 'raw' | 'car'
type Negotiated = { format: Format; scope: DagScope } | Response

export type GatewayHandler = (req: Request) => Promise<Response | undefined>

/** Returns a handler for `/ipfs/…`; it resolves to undefined for any other path. */
export function createTrustlessGateway(blockstore: Blockstore): GatewayHandler {
  return async (req) => {
    const url = new URL(req.url)
    if (!url.pathname.startsWith('/ipfs/')) return undefined
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return text(405, 'Method not allowed: use GET or HEAD', { Allow: 'GET, HEAD' })
    }
    const segments = url.pathname.slice('/ipfs/'.length).split('/')
    let cid: CID
    try {
      cid = CID.parse(decodeURIComponent(segments[0] ?? ''))
    } catch {
      return text(400, 'Bad request: invalid CID')
    }
    if (segments.slice(1).some((s) => s !== '')) {
      return text(400, 'Bad request: content paths are not supported by this trustless gateway')
    }
    const negotiated = negotiate(req, url)
    if (negotiated instanceof Response) return negotiated
    const { format, scope } = negotiated

    const etag = format === 'raw' ? `"${cid}.raw"` : `"${cid}.car.dfs.n.${scope}"`
    const headers: Record<string, string> = {
      'Content-Type': format === 'raw' ? RAW : CAR_RESPONSE_TYPE,
      'Content-Disposition': `attachment; filename="${cid}.${format === 'raw' ? 'bin' : 'car'}"`,
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': IMMUTABLE,
      ETag: etag,
      Vary: 'Accept',
      'X-Ipfs-Path': `/ipfs/${cid}`,
      'X-Ipfs-Roots': cid.toString(),
    }
    if (ifNoneMatch(req, etag)) return new Response(null, { status: 304, headers })
    const local = cid.multihash.code === IDENTITY || (await blockstore.has(cid, { signal: req.signal }))
    if (!local && /(^|[\s,])only-if-cached([\s,]|$)/i.test(req.headers.get('cache-control') ?? '')) return text(412, `Not here: ${cid} (only-if-cached)`)

    try {
      if (format === 'raw') {
        const bytes = await readBlock(blockstore, cid, { signal: req.signal })
        headers['Content-Length'] = String(bytes.length)
        // (cast: DOM typings want an ArrayBuffer-backed view; blocks are never on a SharedArrayBuffer)
        return new Response(req.method === 'HEAD' ? null : (bytes as Uint8Array<ArrayBuffer>), { status: 200, headers })
      }
      // The spec's 404 rule is about the root block: have it (here, or from a peer) before committing to 200.
      if (!local) await readBlock(blockstore, cid, { signal: req.signal })
      if (req.method === 'HEAD') return new Response(null, { status: 200, headers })
      return new Response(toStream(exportCar(blockstore, cid, { scope, signal: req.signal, forChecker: true })), { status: 200, headers })
    } catch (e) {
      if (isNotFound(e)) return text(404, `Not found: ${cid}`)
      if (isW3aError(e, 'BLOCK_HASH_MISMATCH')) return text(404, `Not found: ${cid} (stored copy is corrupt)`)
      return text(500, 'Internal error')
    }
  }
}

/** `format` wins over `Accept` (spec); no explicit trustless type → 400, an unsupported one → 406. */
function negotiate(req: Request, url: URL): Negotiated {
  if (url.searchParams.has('entity-bytes')) return text(400, 'Bad request: entity-bytes is not supported')
  const scopeParam = url.searchParams.get('dag-scope') ?? 'all'
  if (scopeParam !== 'all' && scopeParam !== 'entity' && scopeParam !== 'block') {
    return text(400, 'Bad request: dag-scope must be block, entity or all')
  }
  // A UnixFS file's "entity" is the whole file DAG, which is what `all` returns here.
  const scope: DagScope = scopeParam === 'block' ? 'block' : 'all'

  const formatParam = url.searchParams.get('format')
  if (formatParam !== null) {
    if (formatParam === 'raw') return { format: 'raw', scope }
    if (formatParam === 'car') {
      const version = url.searchParams.get('car-version')
      if (version !== null && version !== '1') return text(406, 'Not acceptable: only CAR version 1 is served')
      return { format: 'car', scope }
    }
    return text(406, `Not acceptable: format=${formatParam.slice(0, 32)} (this gateway serves only raw and car)`)
  }

  let sawIpldType = false
  for (const { type, params } of parseAccept(req.headers.get('accept') ?? '')) {
    if (type === RAW) return { format: 'raw', scope }
    if (type === CAR) {
      if ((params.get('version') ?? '1') === '1') return { format: 'car', scope }
      sawIpldType = true
      continue
    }
    if (type.startsWith('application/vnd.ipld.') || type.startsWith('application/vnd.ipfs.')) sawIpldType = true
  }
  if (sawIpldType) return text(406, `Not acceptable: this gateway serves only ${RAW} and ${CAR}; version=1`)
  return text(400, `Bad request: trustless gateway; ask for ?format=raw or ?format=car (or Accept: ${RAW} / ${CAR})`)
}

/** Media ranges from an Accept header, highest q first (q=0 dropped), ties in header order. */
function parseAccept(header: string): { type: string; params: Map<string, string> }[] {
  const ranges = header
    .split(',')
    .map((part, index) => {
      const [type = '', ...rest] = part.split(';').map((s) => s.trim())
      const params = new Map<string, string>()
      for (const p of rest) {
        const eq = p.indexOf('=')
        if (eq > 0) params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim().replace(/^"|"$/g, ''))
      }
      const q = Number(params.get('q') ?? '1')
      return { type: type.toLowerCase(), params, q: Number.isFinite(q) ? q : 0, index }
    })
    .filter((r) => r.type !== '' && r.q > 0)
  ranges.sort((a, b) => b.q - a.q || a.index - b.index)
  return ranges
}

function ifNoneMatch(req: Request, etag: string): boolean {
  const header = req.headers.get('if-none-match')
  if (header === null) return false
  return header.split(',').some((t) => {
    const tag = t.trim()
    return tag === '*' || tag === etag || tag === `W/${etag}`
  })
}

function text(status: number, body: string, extra: Record<string, string> = {}): Response {
  return new Response(body + '\n', {
    status,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', ...extra },
  })
}

/** An async generator as a pull-based body stream (backpressure: read one chunk per pull). */
function toStream(source: AsyncGenerator<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await source.next()
        if (done) controller.close()
        else controller.enqueue(value)
      } catch (e) {
        // Headers are gone already: the spec says terminate the stream (client sees a broken CAR).
        controller.error(e)
      }
    },
    async cancel() {
      await source.return(undefined)
    },
  })
}
