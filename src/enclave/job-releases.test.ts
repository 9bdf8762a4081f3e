import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Address } from 'viem'
import { isW3aError } from '../core/errors.js'
import { JobReleases, MAX_JOB_WORKERS } from './job-releases.js'

const A: Address = '0x00000000000000000000000000000000000000Aa'
const B: Address = '0x00000000000000000000000000000000000000bb'
const C: Address = '0x00000000000000000000000000000000000000cc'

test('job releases: at most two workers per job, kept across a restart', () => {
  const rec = new JobReleases()
  assert.deepEqual(rec.workersOf(7n), [])
  assert.equal(rec.record(7n, A), true)
  assert.equal(rec.record(7n, A.toLowerCase() as Address), false) // the same worker again: nothing new
  assert.equal(rec.record(7n, B), true)
  assert.equal(MAX_JOB_WORKERS, 2)
  assert.throws(() => rec.record(7n, C), (e) => isW3aError(e, 'INTERNAL'))
  const restarted = JobReleases.import(rec.export())
  assert.deepEqual(restarted.workersOf(7n), [A.toLowerCase(), B])
  assert.deepEqual(restarted.workersOf(8n), [])
  assert.throws(() => JobReleases.import(new TextEncoder().encode('{"v":2,"released":[]}')), (e) => isW3aError(e, 'INPUT_MALFORMED'))
})
