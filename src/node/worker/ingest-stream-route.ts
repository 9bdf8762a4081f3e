/**
 * The worker's end of the gateway's ingest stream (src/enclave/ingest-stream.ts): an upgrade on
 * `GET /v1/ingest/stream` is handed over to the enclave as it stands, unread. From then on the
 * gateway's sealed events go into the enclave and its answers come back with no host in between
 * (per event the host costs nothing; it could not open an event anyway). The enclave writes the 101.
 */
import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import { INGEST_STREAM_PATH, INGEST_STREAM_PROTOCOL } from '../../enclave/ingest-stream.js'
import type { EnclaveCaller } from './enclave-caller.js'

export function acceptIngestStreams(server: Server, caller: EnclaveCaller, log: (line: string) => void): void {
  server.on('upgrade', (req, socket, head: Buffer) => {
    // The gateway waits for the 101 before it writes: bytes already read here would be lost to the enclave.
    if (req.url !== INGEST_STREAM_PATH || req.headers.upgrade?.toLowerCase() !== INGEST_STREAM_PROTOCOL || head.length > 0) {
      socket.end(`HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: text/plain\r\n\r\nonly ${INGEST_STREAM_PROTOCOL} on ${INGEST_STREAM_PATH}\n`)
      return
    }
    caller.call('ingestStream', {}, socket as Socket).catch((e: unknown) => {
      log(`ingest stream refused: ${(e as Error).message}`)
      socket.destroy()
    })
  })
}
