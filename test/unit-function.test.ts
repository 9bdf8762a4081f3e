/**
 * Per-unit functions on a real devnet (Anvil, the contracts, storage, a gateway, a keeper and a
 * compute worker with the simulated TEE in its own process): an analyst sends a JavaScript
 * function sealed like SQL; the keeper checks its kind and hash against the owner's policy when
 * it opens the analysis; the worker streams each person's rows through the QuickJS sandbox and
 * releases only the noised aggregate of the typed answers. The seed's example: "male, or
 * female", from each person's own rows.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Hex } from 'viem'
import { startDevnet, type RunningDevnet } from '../src/node/up.js'
import { devAccount } from '../src/chain/index.js'
import { buyCredits, createW3aClient, getCredits, listOnMarket, runQuery, setDatasetPolicy, uploadDataset, type W3aClient } from '../src/sdk/index.js'
import { functionHash } from '../src/analysis/index.js'
import { parsePolicy } from '../src/custody/index.js'
import { isW3aError } from '../src/core/errors.js'

const TOKEN = 10n ** 18n
const K = 5
const BIN = fileURLToPath(new URL('../bin/w3a.mjs', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'w3a-unit-function-'))
const csv = join(work, 'prints.csv')
let devnet: RunningDevnet
let owner: W3aClient
let analyst: W3aClient
let datasetId: Hex
let sqlOnlyId: Hex

/** 90 people, 4 readings each; a person's gender is what most of their readings say (60 female, 30 male). */
const PEOPLE = 90
const FEMALE = 60
function writePrints(): void {
  const lines = ['person,city,ridge,reading']
  for (let p = 0; p < PEOPLE; p++) {
    const female = p < FEMALE
    for (let i = 0; i < 4; i++) {
      // Three of four readings agree with the person's gender; the fourth says the other.
      const says = i === 3 ? !female : female
      lines.push(`p${p},${['Paris', 'Lyon', 'Nice'][p % 3]},${says ? 'fine' : 'coarse'},${(p * 7 + i * 13) % 50}`)
    }
  }
  writeFileSync(csv, lines.join('\n') + '\n')
}

const GENDER = `(rows) => rows.filter((r) => r.ridge === 'fine').length * 2 > rows.length ? 'female' : 'male'`

const policy = (extra: Record<string, unknown> = {}) =>
  parsePolicy({ k: K, epsilonBudget: 60, analystEpsilonBudget: 50, minEpsilon: 0.1, defaultEpsilon: 1, openAccess: true, analyses: ['sql', 'function'], columns: { identifiers: ['person'], dimensions: ['city', 'ridge'], measures: ['reading'] }, bounds: { reading: [0, 50] }, ...extra })

before(async () => {
  writePrints()
  devnet = await startDevnet({ dataDir: join(work, 'devnet'), port: 0 })
  owner = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: devAccount(1) })
  analyst = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: devAccount(2) })
  datasetId = (await uploadDataset(owner, { file: csv, name: 'prints', privacyUnit: 'person' })).id
  await setDatasetPolicy(owner, { id: datasetId, policy: policy() })
  await listOnMarket(owner, { id: datasetId, price: TOKEN, summary: 'functions allowed' })
  await buyCredits(analyst, { id: datasetId, credits: 20n })
  // The same data under a policy that allows SQL only (the default).
  sqlOnlyId = (await uploadDataset(owner, { file: csv, name: 'prints sql only', privacyUnit: 'person' })).id
  await setDatasetPolicy(owner, { id: sqlOnlyId, policy: policy({ analyses: ['sql'] }) })
  await listOnMarket(owner, { id: sqlOnlyId, price: TOKEN, summary: 'SQL only' })
  await buyCredits(analyst, { id: sqlOnlyId, credits: 2n })
})

after(async () => {
  await devnet?.stop()
  rmSync(work, { recursive: true, force: true })
})

test('male / female: each person answers from their own rows; only the noised histogram leaves the worker', async () => {
  const r = await runQuery(analyst, { id: datasetId, function: { source: GENDER, output: 'category:male,female' }, epsilon: 5 })
  assert.deepEqual(r.columns.map((c) => c.name), ['category', 'units'])
  assert.deepEqual(r.rows.map((x) => x[0]), ['male', 'female'])
  const [male, female] = r.rows.map((x) => Number(x[1]))
  // ε 5 on one quantity of L1 sensitivity 1: noise scale 0.2, so the counts are within a few of 30 / 60.
  assert.ok(Math.abs(male! - (PEOPLE - FEMALE)) <= 5 && Math.abs(female! - FEMALE) <= 5, `${male} / ${female}`)
  assert.deepEqual([r.privacy.mechanism, r.privacy.epsilonSpent, r.privacy.k, r.privacy.suppressed], ['discrete-laplace', 5, K, null])
  assert.equal(r.privacy.noiseScale['units'], 0.2)
  assert.equal(r.attestation.teeType, 'sim')

  // Grouped by a dimension, averaging a number: the k rule applies to the groups.
  const mean = await runQuery(analyst, { id: datasetId, function: { source: '(rows) => rows.reduce((s, r) => s + r.reading, 0) / rows.length', output: 'number:0:50', aggregate: 'mean', groupBy: 'city' }, epsilon: 5 })
  assert.deepEqual(mean.columns.map((c) => c.name), ['city', 'mean', 'units'])
  assert.deepEqual(mean.rows.map((x) => x[0]).sort(), ['Lyon', 'Nice', 'Paris'])
  for (const row of mean.rows) assert.ok((row[1] as number) >= 0 && (row[1] as number) <= 50 && Math.abs(Number(row[2]) - 30) <= 10, JSON.stringify(row, (_, v) => (typeof v === 'bigint' ? String(v) : v)))
})

test("a function that tries to return a unit's raw value gets nothing out", async () => {
  const text = (x: unknown) => JSON.stringify(x, (_, v) => (typeof v === 'bigint' ? String(v) : v))
  // The rows as a string, where a number was declared: every unit counts as 0.
  const dump = await runQuery(analyst, { id: datasetId, function: { source: '(rows) => JSON.stringify(rows)', output: 'number:0:10' }, epsilon: 5 })
  assert.ok(Math.abs(dump.rows[0]![0] as number) < 40, `noise around 0, got ${dump.rows[0]![0]}`)
  assert.ok(!/p\d+|Paris|fine|coarse/.test(text(dump.rows)), 'no value of the rows in the output')
  // An id encoded in a number past the bound: clamped, so every unit but p0 counts as exactly 10.
  const ids = await runQuery(analyst, { id: datasetId, function: { source: '(rows) => Number(rows[0].person.slice(1)) * 1000', output: 'number:0:10' }, epsilon: 5 })
  assert.ok(Math.abs((ids.rows[0]![0] as number) - (PEOPLE - 1) * 10) < 40, `${ids.rows[0]![0]}`)
  // A category outside the declared list counts in none: only the declared ones are ever released.
  const cats = await runQuery(analyst, { id: datasetId, function: { source: '(rows) => rows[0].person', output: 'category:p1,p2' }, epsilon: 5 })
  assert.deepEqual(cats.rows.map((x) => x[0]), ['p1', 'p2'])
  for (const row of cats.rows) assert.ok(Number(row[1]) <= 5, 'each listed id is one unit at most, noised')
})

test("a function hitting its limits on one unit answers the type's default for it, and the job goes on: whether a job ends tells nothing about a unit", async () => {
  const before = (await getCredits(analyst, { id: datasetId })).credits
  // An infinite loop only for p42 (the analyst's code picks the rows): p42 counts as 0, everyone else as 1.
  const r = await runQuery(analyst, { id: datasetId, function: { source: "(rows) => { if (rows[0].person === 'p42') for (;;) {} return 1 }", output: 'number:0:1' }, epsilon: 1 })
  assert.ok(Math.abs((r.rows[0]![0] as number) - (PEOPLE - 1)) < 20, `noise around ${PEOPLE - 1}, got ${r.rows[0]![0]}`)
  assert.equal((await getCredits(analyst, { id: datasetId })).credits, before - 1n, 'charged as any job')
})

test('the owner decides: no functions under a SQL-only policy, none denied by hash, none off the allow-list (refused at the charge: the credit comes back)', async () => {
  const fn = { source: GENDER, output: 'category:male,female' }
  const refused = (e: unknown) => isW3aError(e, 'JOB_FAILED') && /analysis-not-allowed/.test(e.message)
  const sqlOnlyCredits = (await getCredits(analyst, { id: sqlOnlyId })).credits
  await assert.rejects(runQuery(analyst, { id: sqlOnlyId, function: fn, epsilon: 1 }), refused)
  assert.equal((await getCredits(analyst, { id: sqlOnlyId })).credits, sqlOnlyCredits, 'the refused kind cost no credit')
  await setDatasetPolicy(owner, { id: datasetId, policy: policy({ functionDeny: [functionHash(GENDER)] }) })
  const credits = (await getCredits(analyst, { id: datasetId })).credits
  await assert.rejects(runQuery(analyst, { id: datasetId, function: fn, epsilon: 1 }), refused)
  await setDatasetPolicy(owner, { id: datasetId, policy: policy({ functionAllow: [functionHash(GENDER)] }) })
  await assert.rejects(runQuery(analyst, { id: datasetId, function: { source: '(rows) => 1', output: 'number:0:1' }, epsilon: 1 }), refused)
  assert.equal((await getCredits(analyst, { id: datasetId })).credits, credits, 'refused functions cost no credit')
  // The allowed one runs, through the CLI.
  const file = join(work, 'gender.js')
  writeFileSync(file, GENDER)
  const run = (...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, ...args, '--gateway', devnet.gatewayUrl, '--data-dir', devnet.dataDir, '--json'], { encoding: 'utf8', timeout: 180_000 }, (err, stdout, stderr) =>
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
      )
    })
  const hash = await run('query', datasetId, '--function', file, '--hash')
  assert.equal((JSON.parse(hash.stdout) as { functionHash: string }).functionHash, functionHash(GENDER))
  const q = await run('query', datasetId, '--function', file, '--output', 'category:male,female', '--epsilon', '2', '--account', '2')
  assert.equal(q.status, 0, q.stderr)
  const out = JSON.parse(q.stdout) as { rows: unknown[][]; privacy: { mechanism: string; epsilonSpent: number } }
  assert.deepEqual(out.rows.map((x) => x[0]), ['male', 'female'])
  assert.deepEqual([out.privacy.mechanism, out.privacy.epsilonSpent], ['discrete-laplace', 2])
})
