/**
 * The join loop's sequencing with the enclave and the chain as doubles (the loop only orders the
 * steps); test/keeper-join.test.ts runs two real keepers joining a set of one at once.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isW3aError } from '../../core/errors.js'
import { attemptKeeperJoin, startKeeperJoinLoop, type KeeperJoinSteps } from './keeper-join-loop.js'

/** A set that refuses the first `refusals` admissions (quorum-not-reached), then admits. */
function keeperSet(refusals: number) {
  let member = false
  let posted = 0n
  const refused = new Map<bigint, string>()
  const steps: KeeperJoinSteps = {
    isMember: async () => member,
    postAdmission: async () => {
      const index = posted++
      if (index < BigInt(refusals)) refused.set(index, 'quorum-not-reached')
      else member = true
      return index
    },
    sync: async () => undefined,
    refusal: (i) => refused.get(i),
  }
  return { steps, posted: () => posted }
}

test('one attempt: a member posts nothing; a refused admission is KEEPER_NOT_ADMITTED with the enclave\'s reason', async () => {
  const joined = keeperSet(0)
  await attemptKeeperJoin(joined.steps)
  await attemptKeeperJoin(joined.steps)
  assert.equal(joined.posted(), 1n, 'a member does not ask again')
  const refused = keeperSet(1)
  await assert.rejects(attemptKeeperJoin(refused.steps), (e) => isW3aError(e, 'KEEPER_NOT_ADMITTED') && /entry 0 was refused by the keeper set \(quorum-not-reached\)/.test(e.message))
})

test('the loop asks again after each refusal, logging why, until admitted; stop() ends a loop that is still waiting', async () => {
  const lines: string[] = []
  const set = keeperSet(2)
  let onJoined = 0
  const loop = startKeeperJoinLoop({ steps: set.steps, log: (l) => lines.push(l), onJoined: () => void onJoined++, firstDelayMs: 10, maxDelayMs: 20 })
  assert.equal(await loop.firstAttempt, false, 'the first attempt was refused')
  assert.equal(await loop.joined, true)
  assert.equal(set.posted(), 3n)
  assert.equal(onJoined, 1)
  assert.equal(lines.length, 2)
  assert.match(lines[0]!, /attempt 1\): .*quorum-not-reached.*asking again/)
  await loop.stop()

  const never = keeperSet(Infinity)
  const waiting = startKeeperJoinLoop({ steps: never.steps, log: () => undefined, firstDelayMs: 60_000 })
  await new Promise((r) => setTimeout(r, 20))
  const t0 = Date.now()
  await waiting.stop()
  assert.equal(await waiting.joined, false)
  assert.ok(Date.now() - t0 < 1_000, 'stop does not wait out the backoff')
})
