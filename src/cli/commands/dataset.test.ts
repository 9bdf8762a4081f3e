import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, test } from 'node:test'

const RUN = fileURLToPath(new URL('../run.ts', import.meta.url))
// Nothing listens on port 9 (discard): any network call fails with GATEWAY_UNREACHABLE.
const NOWHERE = 'http://127.0.0.1:9'
let dir: string
let csv: string

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'w3a-cli-dataset-'))
  csv = join(dir, 'sales.csv')
  const lines = ['user_id,amount,city']
  for (let i = 0; i < 200; i++) lines.push(`u${i},${i === 7 ? 'n/a' : i === 150 ? '"12,5"' : String(i % 50)},${i % 2 ? 'Paris' : 'Lyon'}`)
  await writeFile(csv, lines.join('\n') + '\n')
})
after(() => rm(dir, { recursive: true, force: true }))

function upload(...args: string[]): Promise<{ status: number; error: { code: string; message: string; details: string[] } }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', RUN, 'dataset', 'upload', csv, '--name', 'sales', '--account', '0', '--gateway', NOWHERE, '--json', ...args], { encoding: 'utf8', timeout: 60_000 }, (err, stdout) =>
      resolve({ status: err ? Number(err.code) : 0, error: (JSON.parse(stdout) as { error: { code: string; message: string; details: string[] } }).error }),
    )
  })
}

test('w3a dataset upload stops on a numeric column with a few bad values, naming it and the lines, before any network call', async () => {
  const r = await upload()
  assert.equal(r.status, 1)
  assert.equal(r.error.code, 'COLUMN_TYPE_SUSPECT')
  assert.match(r.error.message, /^Column amount looks numeric, but 2 of its 200 values are not numbers/)
  assert.ok(r.error.details.includes('amount: 2 of 200 values; line 9 "n/a", line 152 "12,5"'), r.error.details.join('\n'))
})

test('--schema with a numeric type names the lines that do not fit; --yes or a text type go on (to the network)', async () => {
  const declared = await upload('--schema', 'amount:DOUBLE')
  assert.equal(declared.error.code, 'INPUT_MALFORMED')
  assert.match(declared.error.message, /amount is declared DOUBLE, but 2 of its values are not/)
  for (const flags of [['--yes'], ['--schema', 'amount:VARCHAR']]) {
    const r = await upload(...flags)
    assert.equal(r.error.code, 'GATEWAY_UNREACHABLE', `${flags.join(' ')}: ${r.error.message}`)
  }
  assert.equal((await upload('--schema', 'amount:FLOAT')).error.code, 'INVALID_ARGUMENT')
})
