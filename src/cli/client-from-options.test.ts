import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isW3aError } from '../core/errors.js'
import { clientFromOptions, pinGateway } from './client-from-options.js'
import type { Output } from './output.js'
import { datasetLsCommand } from './commands/dataset.js'
import { marketLsCommand } from './commands/market.js'
import { statusCommand } from './commands/status.js'
import { workerCommand } from './commands/worker.js'
import { DEFAULT_GATEWAY_URL } from './gateway-url.js'

const out: Output = { json: false, result: () => {}, progress: () => {}, info: () => {}, note: () => {} }

/** Runs `fn` with these environment variables unset. */
async function withoutEnv<T>(names: string[], fn: () => Promise<T>): Promise<T> {
  const saved = names.map((n) => [n, process.env[n]] as const)
  for (const n of names) delete process.env[n]
  try {
    return await fn()
  } finally {
    for (const [n, v] of saved) if (v !== undefined) process.env[n] = v
  }
}

test('`dataset ls --mine` and `market ls --mine` without an account name --mine, --account N and W3A_PRIVATE_KEY', async () => {
  await withoutEnv(['W3A_PRIVATE_KEY'], async () => {
    for (const cmd of [datasetLsCommand, marketLsCommand]) {
      await assert.rejects(
        cmd.run.call(cmd, { values: { mine: true, gateway: 'http://127.0.0.1:9' }, positionals: [], out }),
        (e) => isW3aError(e, 'ACCOUNT_MISSING') && /^--mine .*needs an account: pass --account N or set W3A_PRIVATE_KEY/.test(e.shortMessage),
      )
    }
  })
})

test('a command that needs an account refuses before any network call', async () => {
  await withoutEnv(['W3A_PRIVATE_KEY'], async () => {
    await assert.rejects(clientFromOptions({ gateway: 'http://127.0.0.1:9' }, { needsAccount: true }), (e) => isW3aError(e, 'ACCOUNT_MISSING') && /^this command needs an account/.test(e.shortMessage))
  })
})

test('pinGateway: status reads run.json of --data-dir; worker keeps --data-dir for its own state', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'w3a-pin-'))
  try {
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ pid: process.pid, gatewayUrl: 'http://127.0.0.1:41234' }))
    await withoutEnv(['W3A_GATEWAY', 'W3A_DATA_DIR'], async () => {
      const values: Record<string, string | boolean | undefined> = { 'data-dir': dir }
      const g = pinGateway(statusCommand, values)
      assert.equal(g?.source, 'run-file')
      assert.equal(values['gateway'], 'http://127.0.0.1:41234')
      assert.match(g?.note ?? '', /^using gateway http:\/\/127\.0\.0\.1:41234 \(from /)

      const workerValues: Record<string, string | boolean | undefined> = { 'data-dir': dir }
      const cwd = process.cwd()
      process.chdir(tmpdir()) // no .w3a here
      try {
        assert.equal(pinGateway(workerCommand, workerValues)?.url, DEFAULT_GATEWAY_URL)
      } finally {
        process.chdir(cwd)
      }
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
