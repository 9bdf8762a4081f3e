/**
 * The process helper the multi-node tests rely on leaves nothing running: a process that never
 * becomes ready is stopped at its timeout together with its children (its process group), as a
 * `w3a worker` with its enclave would be.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { processAlive, startReadyProcess } from './w3a-up-process.js'

test('a process not ready in time is stopped with its children', async () => {
  // A parent that starts a long-lived child, names it on stderr, and never prints a ready line.
  const script = "const c = require('node:child_process').spawn('sleep', ['300'], { stdio: 'ignore' }); console.error(c.pid); setInterval(() => {}, 1000)"
  const started = startReadyProcess([process.execPath, '-e', script], 'never-ready', 2_000)
  const error: Error = await started.then(() => assert.fail('it never prints a ready line'), (e: Error) => e)
  assert.match(error.message, /never-ready not ready in 2s/)
  const child = Number(/^(\d+)$/m.exec(error.message)?.[1])
  assert.ok(child > 0, `the child's pid in the error's stderr: ${error.message}`)
  for (let i = 0; processAlive(child); i++) {
    assert.ok(i < 50, `child ${child} still running 5 s after the timeout`)
    await new Promise((r) => setTimeout(r, 100))
  }
})

test('a command that prints its error JSON instead of a ready line is a failed start, not a ready one', async () => {
  const script = "console.log(JSON.stringify({ error: { code: 'KEEPER_UNAVAILABLE' } })); setTimeout(() => process.exit(1), 200)"
  await assert.rejects(startReadyProcess([process.execPath, '-e', script], 'failing', 10_000), /failing did not start: .*KEEPER_UNAVAILABLE/)
})
