import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseCommandArgs, renderHelp, requireArg, requireString, type Command } from './command.js'
import { isW3aError } from '../core/errors.js'
import { COMMANDS } from './main.js'

const cmd: Command = {
  path: ['dataset', 'upload'],
  summary: 'upload',
  args: [{ name: 'FILE', description: 'the file' }],
  options: { name: { type: 'string', description: 'name' } },
  async run() {},
}

test('parses options, positionals and the global flags', () => {
  const { values, positionals } = parseCommandArgs(cmd, ['a.csv', '--name', 'n', '--json'])
  assert.deepEqual(positionals, ['a.csv'])
  assert.equal(values['name'], 'n')
  assert.equal(values['json'], true)
})

test('an unknown option is an INVALID_ARGUMENT naming it and pointing at --help', () => {
  assert.throws(
    () => parseCommandArgs(cmd, ['--nmae', 'x']),
    (e) => isW3aError(e, 'INVALID_ARGUMENT') && /nmae/.test(e.message) && /--help/.test(e.message),
  )
})

test('missing required argument and option say what is missing and show usage', () => {
  assert.throws(() => requireArg([], 0, cmd), (e) => isW3aError(e, 'INVALID_ARGUMENT') && /FILE/.test(e.message) && /Usage: w3a dataset upload FILE/.test(e.message))
  assert.throws(() => requireString({}, 'name', cmd), (e) => isW3aError(e, 'INVALID_ARGUMENT') && /--name is required/.test(e.message))
})

test('every registered command documents --json and --help', () => {
  for (const c of COMMANDS) {
    const help = renderHelp(c)
    assert.match(help, /--json/, c.path.join(' '))
    assert.match(help, /--help/, c.path.join(' '))
  }
})
