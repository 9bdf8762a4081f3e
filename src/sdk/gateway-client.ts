import { W3aError, type W3aErrorCode } from '../core/errors.js'

/** The HTTP side of the SDK: talks to one gateway, turns its error bodies back into W3aErrors. */
export type GatewayClient = {
  url: string
  getJson<T>(path: string): Promise<T>
  /** POST with an empty body, JSON answer (gateway actions such as dropping a deleted dataset's blocks). */
  postJson<T>(path: string): Promise<T>
  /** POST a JSON body, JSON answer (a sealed campaign answer the gateway relays; a signed unpin, with its headers). */
  sendJson<T>(path: string, body: unknown, headers?: Record<string, string>): Promise<T>
  /** POST a CAR (bytes or a stream) to /api/v1/blocks, with its signed-upload headers (upload-car.ts). */
  postCar(body: Uint8Array | AsyncIterable<Uint8Array>, headers: Record<string, string>): Promise<{ roots: string[]; blocks: number; bytes: number }>
  /** GET a path that answers with bytes (trustless gateway routes). */
  getBytes(path: string, accept: string): Promise<Uint8Array>
  getStream(path: string, accept: string): Promise<AsyncIterable<Uint8Array>>
}

type ErrorBody = { error?: { code?: string; message?: string; details?: string[]; docs?: string } }

async function failure(res: Response, what: string): Promise<W3aError> {
  const text = await res.text().catch(() => '')
  try {
    const body = JSON.parse(text) as ErrorBody
    if (body.error?.code && body.error.message) {
      return new W3aError(body.error.code as W3aErrorCode, body.error.message, {
        details: body.error.details ?? [],
        ...(body.error.docs ? { docsPath: body.error.docs.replace(/^docs\//, '') } : {}),
      })
    }
  } catch {
    /* not a JSON error body */
  }
  const details = text ? [text.trim().slice(0, 300)] : []
  // The trustless gateway answers a block it lacks (or holds corrupt, and so refuses) with a plain 404.
  if (res.status === 404 && /^GET \/ipfs\//.test(what)) return new W3aError('BLOCK_NOT_FOUND', `the gateway serves no valid block for ${what.slice(4).split('?')[0]}`, { details })
  return new W3aError('GATEWAY_ERROR', `${what} failed: HTTP ${res.status}`, { details })
}

export function createGatewayClient(params: { url: string }): GatewayClient {
  const base = params.url.replace(/\/+$/, '')
  async function request(path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(base + path, init)
    } catch (e) {
      throw new W3aError('GATEWAY_UNREACHABLE', `no W3A gateway answers at ${base}`, {
        details: ['Start one with `npx w3a up`; for a `w3a up` with another data dir pass --data-dir DIR (or set W3A_DATA_DIR); else pass --gateway URL (or set W3A_GATEWAY).'],
        cause: e,
      })
    }
  }
  async function ok(path: string, init?: RequestInit): Promise<Response> {
    const res = await request(path, init)
    if (!res.ok) throw await failure(res, `${init?.method ?? 'GET'} ${path}`)
    return res
  }
  return {
    url: base,
    async getJson<T>(path: string) {
      return (await (await ok(path, { headers: { accept: 'application/json' } })).json()) as T
    },
    async postJson<T>(path: string) {
      return (await (await ok(path, { method: 'POST', headers: { accept: 'application/json' } })).json()) as T
    },
    async sendJson<T>(path: string, body: unknown, headers: Record<string, string> = {}) {
      return (await (await ok(path, { method: 'POST', headers: { ...headers, accept: 'application/json', 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as T
    },
    async postCar(body, headers) {
      const init: RequestInit & { duplex?: 'half' } = {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/vnd.ipld.car' },
        body: (body instanceof Uint8Array ? body : streamOf(body)) as BodyInit,
        duplex: 'half',
      }
      return (await (await ok('/api/v1/blocks', init)).json()) as { roots: string[]; blocks: number; bytes: number }
    },
    async getBytes(path, accept) {
      return new Uint8Array(await (await ok(path, { headers: { accept } })).arrayBuffer())
    },
    async getStream(path, accept) {
      const res = await ok(path, { headers: { accept } })
      if (res.body === null) return (async function* () {})()
      return res.body as unknown as AsyncIterable<Uint8Array>
    },
  }
}

/** An async iterable as a web stream (a fetch body), pulled chunk by chunk. */
function streamOf(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = source[Symbol.asyncIterator]()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await it.next()
      if (next.done) controller.close()
      else controller.enqueue(next.value)
    },
    async cancel(reason) {
      await it.return?.(reason)
    },
  })
}
