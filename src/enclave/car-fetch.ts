/**
 * A segment's CAR from storage, as the worker streams it into loadSegments: one GET of the
 * trustless gateway's `/ipfs/{cid}?format=car`, its body handed over as the socket's buffers
 * (node:http's response is an async iterable of them).
 *
 * node:http and not fetch: fetch's web-stream body costs a promise chain and a copy per piece,
 * which at a dataset's size is a large part of a cold job's open. Nothing here is trusted:
 * loadSegments checks every block against its CID as it arrives.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { CID } from 'multiformats/cid'
import { W3aError } from '../core/errors.js'

const CAR = 'application/vnd.ipld.car'

/** `fetchCar` for loadSegments / openJobData against the storage node at `gatewayUrl`. */
export function carFetcher(gatewayUrl: string): (cid: CID) => Promise<AsyncIterable<Uint8Array>> {
  const base = gatewayUrl.replace(/\/+$/, '')
  return (cid) => getBody(`${base}/ipfs/${cid}?format=car`, CAR, `segment ${cid}`)
}

/** The body of a 200 answer to GET `url`; BLOCK_NOT_FOUND for any other status, GATEWAY_UNREACHABLE if nothing answers. */
function getBody(url: string, accept: string, what: string): Promise<IncomingMessage> {
  const target = new URL(url)
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = request(target, { method: 'GET', headers: { accept } }, (res) => {
      if (res.statusCode === 200) return resolve(res)
      res.resume()
      reject(new W3aError('BLOCK_NOT_FOUND', `storage answered ${res.statusCode} for ${what}`))
    })
    req.on('error', (cause) => reject(new W3aError('GATEWAY_UNREACHABLE', `cannot reach storage at ${target.origin}`, { cause })))
    req.end()
  })
}
