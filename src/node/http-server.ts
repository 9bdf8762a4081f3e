import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import type { AddressInfo } from 'node:net'
import { W3aError } from '../core/errors.js'

/** A web-standard handler: the whole HTTP surface is written against Request/Response. */
export type FetchHandler = (req: Request) => Promise<Response>

/** Set by the server to the TCP peer's address (a client's own header of this name is dropped): the ingest relay's IP. */
export const CLIENT_IP_HEADER = 'x-w3a-client-ip'

export type HttpServer = { url: string; port: number; server: Server; close(): Promise<void> }

/**
 * A route served on node:http directly, without the Request/Response conversion (web streams
 * cost more than the work itself on a small hot request: the ingest relay's POST /api/event).
 * Returns false when the request is not its own; the FetchHandler takes it then.
 */
export type NodeRoute = (req: IncomingMessage, res: ServerResponse) => boolean

function toRequest(req: IncomingMessage, origin: string): Request {
  const headers = new Headers()
  for (const [k, v] of Object.entries(req.headers)) {
    if (Array.isArray(v)) for (const x of v) headers.append(k, x)
    else if (v !== undefined) headers.set(k, v)
  }
  const method = req.method ?? 'GET'
  const hasBody = method !== 'GET' && method !== 'HEAD'
  headers.set(CLIENT_IP_HEADER, req.socket.remoteAddress ?? '')
  return new Request(new URL(req.url ?? '/', origin), {
    method,
    headers,
    body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : undefined,
    // Needed by undici for streamed request bodies.
    ...(hasBody ? { duplex: 'half' } : {}),
  } as RequestInit)
}

async function sendResponse(req: IncomingMessage, res: ServerResponse, response: Response): Promise<void> {
  const isHead = req.method === 'HEAD'
  res.statusCode = response.status
  response.headers.forEach((value, key) => res.setHeader(key, value))
  // A body the handler did not read to its end (refused as too large, or not needed) is not
  // drained: the connection closes after the answer, so a sender cannot make the node read it.
  if (!req.complete) res.setHeader('connection', 'close')
  if (isHead || response.body === null) {
    res.end()
    return
  }
  const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>)
  await new Promise<void>((resolve) => {
    body.on('error', () => res.destroy())
    res.on('close', () => {
      body.destroy()
      resolve()
    })
    body.pipe(res)
  })
}

/** Serves a FetchHandler with node:http; resolves once listening. Port 0 picks a free port. */
export async function serveHttp(handler: FetchHandler, opts: { port: number; host?: string; nodeRoute?: NodeRoute }): Promise<HttpServer> {
  const host = opts.host ?? '127.0.0.1'
  const server = createServer((req, res) => {
    if (opts.nodeRoute?.(req, res)) return
    const origin = `http://${req.headers.host ?? `${host}:${opts.port}`}`
    handler(toRequest(req, origin))
      .catch(() => new Response('internal error\n', { status: 500 }))
      .then((response) => sendResponse(req, res, response))
      .catch(() => res.destroy())
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') {
        reject(
          new W3aError('INVALID_ARGUMENT', `port ${opts.port} on ${host} is already in use`, {
            details: ['Pass another --port, or stop what is listening there.'],
          }),
        )
      } else reject(e)
    })
    server.listen(opts.port, host, () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://${host}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/**
 * Lets pages on any origin call `handler` (the dashboard talks to workers and keepers from the
 * browser): every answer carries `access-control-allow-origin: *` and preflights are answered.
 * Only for APIs that take no cookie or ambient credential: their requests are signed or sealed.
 */
export function withCors(handler: FetchHandler): FetchHandler {
  return async (req) => {
    if (req.method === 'OPTIONS') {
      return new Response(null, {
        status: 204,
        headers: { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET, POST', 'access-control-allow-headers': 'content-type', 'access-control-max-age': '600' },
      })
    }
    const res = await handler(req)
    const headers = new Headers(res.headers)
    headers.set('access-control-allow-origin', '*')
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers })
  }
}
