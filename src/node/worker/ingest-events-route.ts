/**
 * POST /v1/ingest/events, the gateway's relayed batches of sealed events (ingest-relay.ts), on
 * node:http directly (http-server.ts NodeRoute). The host can open none of them, so it parses
 * nothing: the batch goes to the enclave as the text it came in, and the enclave's answer (one
 * result per event) comes back as the text it gave. Per event this host then costs a copy, not
 * a JSON parse, a re-serialisation for the pipe and the Request/Response conversion.
 */
import { W3aError } from '../../core/errors.js'
import { toJsonText } from '../../core/json-text.js'
import { readNodeBody } from '../http-body.js'
import { errorStatus } from '../http-json.js'
import type { NodeRoute } from '../http-server.js'
import type { EnclaveCaller } from './enclave-caller.js'

/** A relayed batch of sealed events (the gateway sends at most 500 of at most ~9 KB each). */
export const MAX_RELAYED_BODY = 8 * 1024 * 1024
export const INGEST_EVENTS_PATH = '/v1/ingest/events'

const JSON_TYPE = { 'content-type': 'application/json; charset=utf-8' }

/** The enclave's answer to a relayed batch's text (service.ts ingestEvents): a JSON array, as text. */
export function relayBatch(caller: EnclaveCaller, batch: string): Promise<string> {
  return caller.call<string>('ingestEvents', { batch })
}

export function ingestEventsRoute(caller: EnclaveCaller): NodeRoute {
  return (req, res) => {
    if (req.method !== 'POST' || req.url !== INGEST_EVENTS_PATH) return false
    readNodeBody(req, MAX_RELAYED_BODY)
      .then((body) => relayBatch(caller, body.toString('utf8')))
      .then(
        (text) => res.writeHead(200, JSON_TYPE).end(text),
        (e: unknown) => {
          if (res.destroyed) return // the gateway hung up
          const err = e instanceof W3aError ? e : new W3aError('INTERNAL', 'internal error')
          // A body refused unread stays in the socket: close it after the answer.
          res.writeHead(errorStatus(err), err.code === 'BODY_TOO_LARGE' ? { ...JSON_TYPE, connection: 'close' } : JSON_TYPE).end(toJsonText(err.toJSON()))
        },
      )
    return true
  }
}
