import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ReplayGuard } from './ingest-replay-guard.js'

test("remembers each page load's events once (small and large sequence numbers), and forgets the oldest page loads past its bound", () => {
  const g = new ReplayGuard(10)
  for (const seq of [0, 1, 2, 30, 31, 4_294_967_295]) {
    assert.equal(g.firstTime('site/a', seq), true, `seq ${seq} first`)
    assert.equal(g.firstTime('site/a', seq), false, `seq ${seq} replayed`)
  }
  assert.equal(g.firstTime('site/b', 0), true, 'another page load has its own numbers')
  assert.equal(g.size, 7)
  // Four more events: 11 > 10, so the oldest page load (a, 6 events) is forgotten whole.
  for (const seq of [1, 2, 3, 4]) g.firstTime('site/b', seq)
  assert.equal(g.size, 5)
  assert.equal(g.firstTime('site/a', 0), true, 'the forgotten page load counts again')
  assert.equal(g.firstTime('site/b', 3), false, 'the newer one is still remembered')
  assert.ok(g.size <= 10)
})
