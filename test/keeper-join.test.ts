/**
 * Two keepers joining a set of one at the same time both end in the set (issue 16). Both are
 * approved by the one member; the first admission applied grows the set to two, so the second,
 * approved for the old set, is refused (quorum-not-reached). Only by asking again against the set
 * of two (keeper-join-loop.ts) does the second get in: before, it stayed out until restarted.
 * Real Anvil and `w3a worker --keeper` processes (dist/).
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { getFreePort } from '../src/chain/index.js'
import { startNodeParts, waitForKeeperSet, type NodeParts, type WorkerReady } from './node-parts.js'

let parts: NodeParts
let gateway: string

before(async () => {
  parts = await startNodeParts('w3a-keeper-join-')
  gateway = (await parts.gateway('gateway', '127.0.0.1', await getFreePort('127.0.0.1'))).gatewayUrl
})
after(async () => {
  await parts?.stop()
})

test('two keepers joining a one-keeper set at once are both admitted', { timeout: 150_000 }, async () => {
  const first = await parts.worker('keeper-1', gateway, 3, true)
  const joiners: WorkerReady[] = await Promise.all([parts.worker('keeper-2', gateway, 4, true), parts.worker('keeper-3', gateway, 5, true)])
  const keepers = [first, ...joiners]
  await waitForKeeperSet(keepers, 3)
  // The same three members in every enclave, each of them a member itself.
  const views = (await Promise.all(keepers.map(async (w) => (await fetch(`${w.url}/v1/info`)).json()))) as { keeper: { keeperSet: { keepers: string[]; member: boolean } } }[]
  const expected = keepers.map((k) => k.address.toLowerCase()).sort()
  for (const v of views) {
    assert.equal(v.keeper.keeperSet.member, true)
    assert.deepEqual(v.keeper.keeperSet.keepers.map((k) => k.toLowerCase()).sort(), expected)
  }
  // The inbox as the first keeper's receipts tell it: exactly two admissions applied; any refused
  // one (the race: approved by the set of one after the other joined) was followed by an applied one.
  const info = (await (await fetch(`${first.url}/v1/info`)).json()) as { keeper: { processed: string | number } }
  const admissions: { index: number; status: string; reason?: string }[] = []
  for (let i = 0; i < Number(info.keeper.processed); i++) {
    const r = (await (await fetch(`${first.url}/v1/custody/receipts/${i}`)).json()) as { type?: string; status: string; reason?: string }
    if (r.type === 'KeeperAdmission') admissions.push({ index: i, status: r.status, ...(r.reason ? { reason: r.reason } : {}) })
  }
  console.log(`keeper admissions in the inbox: ${JSON.stringify(admissions)}`)
  assert.equal(admissions.filter((a) => a.status === 'applied').length, 2)
  const lastApplied = Math.max(...admissions.filter((a) => a.status === 'applied').map((a) => a.index))
  for (const a of admissions.filter((x) => x.status === 'refused')) {
    assert.equal(a.reason, 'quorum-not-reached')
    assert.ok(a.index < lastApplied, 'a refused admission is asked again and applied later')
  }
})
