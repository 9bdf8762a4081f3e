/**
 * The docs run as written. For each guide, in its own fresh devnet (`w3a up --port 0` in an
 * empty folder, as a newcomer would), every command of its ```sh blocks runs in order through
 * bash, with `npx w3a` and `npx tsx` resolving to this checkout. The CLI has to find the
 * devnet from `.w3a/run.json` by itself: no command gets a `--gateway`.
 *
 * What the test substitutes, and nothing else: `0x…` and `ID=0x<hex>` become the id of the
 * dataset the guide last uploaded, `0xAnalystAddress` dev account 2's address, and
 * `dataset delete` gets `--yes` (the test has no terminal to confirm on). A transcript's
 * expected output is checked loosely: `error [CODE]` means the command must fail with that
 * code, otherwise the first word of each expected line must appear in what the command printed.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { devAccount } from '../src/chain/index.js'
import { docSteps, type DocStep } from './doc-commands.js'

const REPO = join(import.meta.dirname, '..')
const BIN = join(REPO, 'bin', 'w3a.mjs')
const GUIDES = ['README.md', 'docs/getting-started.md', 'docs/analyst.md']
/** Commands a guide shows that this test runs itself (the devnet) or that only set up a checkout. */
const SETUP = /^(npx w3a up\b|npm (install|ci|test)\b|git clone\b|cd\b)/

test('docs: the command grammar reads transcripts, continuations, files and comments', () => {
  const md = [
    'text',
    '```sh',
    'npx w3a dataset ls   # all datasets',
    'npx w3a query 0x… \\',
    '  --sql "SELECT 1 # not a comment"',
    '```',
    '<!-- file: a.ts -->',
    '```ts',
    'console.log(1)',
    '```',
    '```sh',
    '$ npx w3a status',
    'chain id 31337',
    '$ node -e \'',
    'console.log(2)\'',
    '```',
    '<!-- fresh devnet -->',
  ].join('\n')
  const steps = docSteps(md)
  assert.deepEqual(
    steps.map((s) => (s.kind === 'run' ? s.command : s.kind === 'file' ? `file ${s.name}` : 'fresh')),
    ['npx w3a dataset ls', 'npx w3a query 0x…  --sql "SELECT 1 # not a comment"', 'file a.ts', 'npx w3a status', "node -e '\nconsole.log(2)'", 'fresh'],
  )
  assert.deepEqual((steps[3] as Extract<DocStep, { kind: 'run' }>).expected, ['chain id 31337'])
})

for (const guide of GUIDES) {
  test(`docs: every command of ${guide} runs as written on a fresh devnet`, { timeout: 600_000 }, async () => {
    const steps = docSteps(readFileSync(join(REPO, guide), 'utf8'))
    assert.ok(steps.some((s) => s.kind === 'run' && s.command.startsWith('npx w3a ') && !SETUP.test(s.command)), `${guide} has no w3a command`)
    let work = mkdtempSync(join(tmpdir(), 'w3a-docs-'))
    let devnet = await startDevnet(work)
    try {
      let datasetId: string | undefined
      for (const step of steps) {
        if (step.kind === 'fresh') {
          await devnet.stop()
          rmSync(work, { recursive: true, force: true })
          work = mkdtempSync(join(tmpdir(), 'w3a-docs-'))
          devnet = await startDevnet(work)
          datasetId = undefined
          continue
        }
        if (step.kind === 'file') {
          writeFileSync(join(work, step.name), step.content)
          continue
        }
        if (SETUP.test(step.command)) continue
        const command = substitute(step.command, datasetId)
        const r = spawnSync('bash', ['-c', command], { cwd: work, env: { ...process.env, PATH: `${join(work, 'shim')}:${process.env['PATH']}` }, encoding: 'utf8', timeout: 180_000 })
        const printed = `${r.stdout}\n${r.stderr}`
        const where = `${guide}:${step.line} \`${command}\``
        const failure = step.expected.map((l) => /^error \[([A-Z_]+)\]/.exec(l)?.[1]).find(Boolean)
        if (failure) {
          assert.notEqual(r.status, 0, `${where} should fail with ${failure}:\n${printed}`)
          assert.match(printed, new RegExp(`\\[${failure}\\]`), where)
        } else {
          assert.equal(r.status, 0, `${where} exited ${r.status}:\n${printed}`)
          for (const word of step.expected.map(firstWord).filter((w): w is string => w !== undefined)) {
            assert.ok(printed.includes(word), `${where}: the guide shows "${word}" in its output, the command printed:\n${printed}`)
          }
        }
        const uploaded = /^\s*id\s+(0x[0-9a-f]{64})\s*$/m.exec(r.stdout)
        if (/\bdataset upload\b/.test(command) && uploaded) datasetId = uploaded[1]
      }
    } finally {
      await devnet.stop()
      rmSync(work, { recursive: true, force: true })
    }
  })
}

function substitute(command: string, datasetId: string | undefined): string {
  let c = command
  if (/0x…|\bID=0x[0-9a-f]{64}\b/.test(c)) {
    assert.ok(datasetId, `\`${command}\` names a dataset before the guide uploaded one`)
    c = c.replaceAll('0x…', datasetId).replace(/\bID=0x[0-9a-f]{64}\b/, `ID=${datasetId}`)
  }
  c = c.replaceAll('0xAnalystAddress', devAccount(2).address)
  if (/\bw3a dataset delete\b/.test(c) && !/--yes\b/.test(c)) c += ' --yes'
  return c
}

/** The label a transcript line starts with (`credits`, `uploaded`, `ID`), if it has one. */
function firstWord(line: string): string | undefined {
  const w = /^\s*([A-Za-z][A-Za-z_-]{2,})\b/.exec(line)?.[1]
  return w
}

/** `w3a up` in `work`, as a newcomer starts it; npx resolves to this checkout through a shim. */
async function startDevnet(work: string): Promise<{ stop: () => Promise<void> }> {
  const shim = join(work, 'shim')
  mkdirSync(shim)
  const npx = join(shim, 'npx')
  writeFileSync(
    npx,
    [
      '#!/usr/bin/env bash',
      `if [ "$1" = w3a ]; then shift; exec "${process.execPath}" "${BIN}" "$@"; fi`,
      `if [ "$1" = tsx ]; then shift; exec "${join(REPO, 'node_modules', '.bin', 'tsx')}" "$@"; fi`,
      'echo "docs test: npx $1 is not provided" >&2; exit 127',
      '',
    ].join('\n'),
  )
  chmodSync(npx, 0o755)
  // The guides' files and `import … from 'w3a'` resolve as they do in a checkout.
  symlinkSync(join(REPO, 'examples'), join(work, 'examples'))
  mkdirSync(join(work, 'node_modules'))
  symlinkSync(REPO, join(work, 'node_modules', 'w3a'))
  const proc = spawn(process.execPath, [BIN, 'up', '--port', '0'], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] })
  const stderr: string[] = []
  createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`w3a up not ready in 90s:\n${stderr.join('\n')}`)), 90_000)
    proc.once('exit', (code) => reject(new Error(`w3a up exited (${code}):\n${stderr.join('\n')}`)))
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      if (l.startsWith('W3A devnet ready')) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  return {
    stop: async () => {
      proc.removeAllListeners('exit')
      if (proc.exitCode !== null) return
      const exited = new Promise((resolve) => proc.once('exit', resolve))
      proc.kill('SIGINT')
      await exited
    },
  }
}
