/**
 * Request bodies, read with their limit enforced while they arrive: a declared
 * `content-length` over the limit is refused before one byte is read, and a body that
 * streams past it (chunked, or lying about its length) stops being read at the first chunk
 * over. Either way the answer is 413 BODY_TOO_LARGE, and http-server.ts closes the
 * connection after it so the sender cannot keep pushing bytes at the node.
 */
import type { IncomingMessage } from 'node:http'
import { W3aError } from '../core/errors.js'
import { collectBytes } from '../storage/index.js'

/** Largest JSON body any control endpoint takes unless it says otherwise. */
export const DEFAULT_MAX_JSON_BODY = 64 * 1024

function tooLarge(max: number, what: string): W3aError {
  return new W3aError('BODY_TOO_LARGE', `${what} is over the ${max}-byte limit of this endpoint`, {
    details: ['Nothing of it was kept. Send less (for datasets: smaller segments, `--rows-per-segment`).'],
  })
}

/** Refuses at once a request whose declared length is over `max`. */
function checkDeclared(req: Request, max: number): void {
  const declared = req.headers.get('content-length')
  if (declared !== null && Number(declared) > max) throw tooLarge(max, `a request body of ${declared} bytes`)
}

/**
 * The body as chunks, failing with BODY_TOO_LARGE once more than `max` bytes came; the rest
 * is never read. An empty body yields nothing.
 */
export async function* limitedBody(req: Request, max: number): AsyncGenerator<Uint8Array> {
  checkDeclared(req, max)
  if (req.body === null) return
  const reader = req.body.getReader()
  let total = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return
      total += value.byteLength
      if (total > max) throw tooLarge(max, 'the request body')
      yield value
    }
  } finally {
    // Stop pulling: unread bytes stay in the socket, which the server closes after answering.
    reader.releaseLock()
  }
}

/** The whole body as bytes, at most `max` of them. */
export async function readBodyBytes(req: Request, max: number): Promise<Uint8Array> {
  return collectBytes(limitedBody(req, max))
}

/** The body as UTF-8 text, at most `max` bytes. */
export async function readBodyText(req: Request, max: number = DEFAULT_MAX_JSON_BODY): Promise<string> {
  return new TextDecoder().decode(await readBodyBytes(req, max))
}

/** The body parsed as JSON, at most `max` bytes; INVALID_ARGUMENT when it is not JSON. */
export async function readJsonBody(req: Request, max: number = DEFAULT_MAX_JSON_BODY): Promise<unknown> {
  const text = await readBodyText(req, max)
  try {
    return JSON.parse(text)
  } catch {
    throw new W3aError('INVALID_ARGUMENT', 'request body is not JSON')
  }
}

/**
 * A node:http request's body as one Buffer, for the hot routes served without the
 * Request/Response conversion (http-server.ts NodeRoute). Same limit rules as above; on
 * BODY_TOO_LARGE the rest is not read (the caller answers with `connection: close`).
 */
export function readNodeBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0)
    if (declared > max) return reject(tooLarge(max, `a request body of ${declared} bytes`))
    const chunks: Buffer[] = []
    let total = 0
    const onData = (c: Buffer) => {
      total += c.length
      if (total > max) {
        req.pause()
        req.removeListener('data', onData)
        req.removeListener('end', onEnd)
        return reject(tooLarge(max, 'the request body'))
      }
      chunks.push(c)
    }
    const onEnd = () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total))
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', reject)
  })
}
