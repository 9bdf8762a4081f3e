/**
 * POST of a JSON text over node:http(s) with a keep-alive agent: the gateway's relay to the
 * ingest worker, its busiest outgoing call. undici's fetch costs a few hundred µs of CPU a
 * request (WHATWG streams, request cloning); this a small fraction of it.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'

const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 16 })
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 16 })

/** An answer slower than this is a failure: a hung worker must not hold the relay's requests (and the events queued behind them) for ever. */
const ANSWER_TIMEOUT_MS = 30_000

/** The answer's status and body text; rejects when the peer cannot be reached, hangs up or takes over 30 s. */
export function postJsonKeepAlive(url: string, body: string, timeoutMs = ANSWER_TIMEOUT_MS): Promise<{ status: number; text: string }> {
  const https = url.startsWith('https:')
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(url, { method: 'POST', agent: https ? httpsAgent : httpAgent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res: IncomingMessage) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('error', reject)
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer from ${url} in ${timeoutMs / 1000} s`)))
    req.end(body)
  })
}
