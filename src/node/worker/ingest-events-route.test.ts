/**
 * The worker's POST /v1/ingest/events on node:http (ingest-events-route.ts): the batch reaches
 * the enclave as the text it came in, the enclave's answer goes back as it gave it, and errors
 * keep their statuses. The enclave side is a stand-in recording its calls (this host's job is
 * only to pass text through); the real enclave is behind test/web-analytics.test.ts and bench:ingest.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { W3aError } from '../../core/errors.js'
import { serveHttp } from '../http-server.js'
import { postJsonKeepAlive } from '../keep-alive-post.js'
import type { EnclaveCaller } from './enclave-caller.js'
import { ingestEventsRoute, INGEST_EVENTS_PATH, MAX_RELAYED_BODY } from './ingest-events-route.js'

test('relayed batches pass through the host as text; enclave errors keep their status; an oversized batch is refused unread', async () => {
  const calls: { method: string; params: unknown }[] = []
  let answer: () => Promise<unknown> = async () => '[{"ok":{"accepted":true}}]'
  const caller: EnclaveCaller = {
    call: async <T>(method: string, params?: unknown) => {
      calls.push({ method, params })
      return (await answer()) as T
    },
    close() {},
  }
  const server = await serveHttp(async () => new Response('handler', { status: 418 }), { port: 0, nodeRoute: ingestEventsRoute(caller) })
  try {
    const batch = '{"events":[ {"envelope":{"v":1},"ip":"198.51.100.1","userAgent":"UA"} ]}'
    const ok = await postJsonKeepAlive(`${server.url}${INGEST_EVENTS_PATH}`, batch)
    assert.deepEqual([ok.status, ok.text], [200, '[{"ok":{"accepted":true}}]'])
    assert.deepEqual(calls, [{ method: 'ingestEvents', params: { batch } }], 'the text, unparsed')

    answer = async () => {
      throw new W3aError('INGEST_BUSY', 'the ingest worker is writing as fast as it can')
    }
    const busy = await postJsonKeepAlive(`${server.url}${INGEST_EVENTS_PATH}`, batch)
    assert.deepEqual([busy.status, JSON.parse(busy.text).error.code], [429, 'INGEST_BUSY'])

    const before = calls.length
    const big = await postJsonKeepAlive(`${server.url}${INGEST_EVENTS_PATH}`, 'x'.repeat(MAX_RELAYED_BODY + 1))
    assert.deepEqual([big.status, JSON.parse(big.text).error.code], [413, 'BODY_TOO_LARGE'])
    assert.equal(calls.length, before, 'the enclave never saw it')

    const other = await postJsonKeepAlive(`${server.url}/v1/other`, '{}')
    assert.equal(other.status, 418, 'other paths are the FetchHandler\'s')
  } finally {
    await server.close()
  }
})
