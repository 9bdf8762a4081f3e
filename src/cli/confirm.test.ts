import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'
import { isW3aError } from '../core/errors.js'
import { confirm } from './confirm.js'

const terminal = (typed: string) => {
  const input = Object.assign(new PassThrough(), { isTTY: true })
  input.end(typed)
  return input
}

test('--yes confirms without asking, even without a terminal', async () => {
  const input = Object.assign(new PassThrough(), { isTTY: false })
  assert.equal(await confirm({ question: 'Delete? [y/N]', yes: true, input }), true)
})

test('without a terminal and without --yes it refuses at once (never waits on stdin)', async () => {
  const input = new PassThrough() // never ends: a wait would hang the test
  await assert.rejects(confirm({ question: 'Delete? [y/N]', yes: false, input }), (e) => isW3aError(e, 'CONFIRMATION_REQUIRED') && /--yes/.test(e.message))
})

test('on a terminal only y / yes confirm; Enter or anything else declines', async () => {
  for (const [typed, want] of [['y\n', true], ['YES\n', true], ['\n', false], ['n\n', false], ['yep\n', false]] as const) {
    const output = new PassThrough()
    let asked = ''
    output.on('data', (c: Buffer) => (asked += c.toString()))
    assert.equal(await confirm({ question: 'Delete dataset visits (0x12)? This cannot be undone [y/N]', yes: false, input: terminal(typed), output }), want, typed)
    assert.match(asked, /Delete dataset visits \(0x12\)\? This cannot be undone \[y\/N\]/)
  }
})
