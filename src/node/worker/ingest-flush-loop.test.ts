/**
 * The flush loop's bookkeeping between the custody command and the registry update. The enclave
 * and the chain are doubles here (the loop only sequences their calls); the whole path runs for
 * real in test/web-analytics.test.ts and test/dashboard.test.ts.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encodeAbiParameters, encodeEventTopics, type Hex } from 'viem'
import { custodyInboxAbi, type ChainPublicClient } from '../../chain/index.js'
import type { EnclaveCaller } from './enclave-caller.js'
import { startIngestFlushLoop } from './ingest-flush-loop.js'

const SITE = `0x${'ab'.repeat(32)}` as Hex

/** A keeper whose receipt for inbox entry 7 shows up only once `receipts` holds it. */
function harness() {
  const calls: string[] = []
  const receipts = new Map<string, Record<string, unknown>>()
  const caller = {
    call: async (method: string) => {
      calls.push(method)
      return method === 'ingestFlush' ? [{ site: SITE, manifestCid: 'bafy-m1', rows: 3, kind: 'append' }] : undefined
    },
  } as unknown as EnclaveCaller
  const log = {
    address: '0x0000000000000000000000000000000000000001',
    topics: encodeEventTopics({ abi: custodyInboxAbi, eventName: 'CommandPosted', args: { index: 7n, sender: '0x0000000000000000000000000000000000000002' } }),
    data: encodeAbiParameters([{ type: 'uint64' }, { type: 'bytes' }, { type: 'bytes32' }], [1n, '0x01', `0x${'00'.repeat(32)}`]),
  }
  const publicClient = { getTransactionReceipt: async () => ({ transactionHash: '0xaa', logs: [log] }) } as unknown as ChainPublicClient
  const loop = startIngestFlushLoop({
    caller,
    publicClient,
    workerRegistry: '0x0000000000000000000000000000000000000003',
    sendOwnTx: async (kind) => (calls.push(`tx:${kind}`), '0xaa'),
    keeper: { syncNow: async () => undefined, receipt: (i) => receipts.get(String(i)), commitState: async () => undefined },
    flushMs: 3_600_000,
    log: () => undefined,
  })
  return { calls, receipts, loop }
}

test('a custody command not applied yet is waited for, not abandoned nor posted again; the registry follows once it is applied', async () => {
  const { calls, receipts, loop } = harness()
  try {
    await loop.flushNow()
    assert.deepEqual(calls, ['ingestFlush', 'tx:siteCommand'])
    await loop.flushNow()
    assert.deepEqual(calls.slice(2), ['ingestFlush'], 'no second command, no registry update, no abandon')
    receipts.set('7', { index: '7', status: 'applied' })
    await loop.flushNow()
    assert.deepEqual(calls.slice(3), ['ingestFlush', 'tx:siteManifest', 'ingestConfirm'])
  } finally {
    await loop.stop()
  }
})

test('a refused custody command is abandoned: the rows wait for the next segment', async () => {
  const { calls, receipts, loop } = harness()
  try {
    receipts.set('7', { index: '7', status: 'refused', reason: 'not the writer' })
    await loop.flushNow()
    assert.deepEqual(calls, ['ingestFlush', 'tx:siteCommand', 'ingestAbandon'])
  } finally {
    await loop.stop()
  }
})
