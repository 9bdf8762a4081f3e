import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isW3aError } from '../../core/errors.js'
import { JobOutcomes, type JobOutcome } from './job-outcomes.js'

const outcome = (jobId: bigint): JobOutcome => ({
  envelope: { v: 1, chainId: 31337, jobs: '0x0000000000000000000000000000000000000001', jobId: jobId.toString(), worker: '0x0000000000000000000000000000000000000002', status: 'completed', outputHash: `0x${'ab'.repeat(32)}`, output: { enc: '0x01', ciphertext: '0x02' }, signature: `0x${'cd'.repeat(65)}` },
  tx: { kind: 'submitResult', jobId, outputHash: `0x${'ab'.repeat(32)}`, signature: `0x${'cd'.repeat(65)}` },
})

test('job outcomes: a job run once hands back its first outcome, then is refused once final, across a restart', () => {
  const rec = new JobOutcomes()
  assert.equal(rec.previous(7n), undefined)
  rec.record(7n, outcome(7n))
  // A second run (the host's replay) gets the same signed outcome, not a new sample.
  assert.deepEqual(rec.previous(7n), outcome(7n))
  assert.deepEqual(rec.pendingTx(7n), outcome(7n).tx)
  // Restart: the sealed record comes back with the pending outcome.
  const again = JobOutcomes.import(rec.export())
  assert.deepEqual(again.previous(7n), outcome(7n))
  assert.equal(again.finish(7n), true)
  assert.equal(again.pendingTx(7n), undefined)
  const restarted = JobOutcomes.import(again.export())
  assert.throws(() => restarted.previous(7n), (e) => isW3aError(e, 'JOB_ALREADY_RUN'))
  assert.equal(restarted.finish(7n), false)
  assert.equal(restarted.previous(8n), undefined)
})
