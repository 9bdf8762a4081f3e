import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import { isW3aError } from '../../core/errors.js'
import { parsePolicy } from '../../custody/policy.js'
import { functionHash } from '../analysis-request.js'
import { DATASET_SQL, makeDataset, POLICY } from '../fixture.test.js'
import { parseOutputSpec } from './output-type.js'
import { runFunctionAnalysis, type FunctionAnalysisRequest } from './run-function.js'

let ds: { dir: string; files: string[] }
before(async () => {
  ds = await makeDataset()
})
after(async () => {
  await rm(ds.dir, { recursive: true, force: true })
})

const policy = parsePolicy({ ...POLICY, analyses: ['sql', 'function'] })
const seed = new Uint8Array(32).fill(3)

function run(fn: FunctionAnalysisRequest['fn'], more: Partial<FunctionAnalysisRequest> = {}) {
  return runFunctionAnalysis({ segmentFiles: ds.files, privacyUnit: 'uid', policy, fn, epsilon: 8, noiseSeed: seed, ...more })
}

async function truth(sql: string): Promise<unknown[][]> {
  const inst = await DuckDBInstance.create(':memory:')
  const conn = await inst.connect()
  try {
    return (await conn.runAndReadAll(`WITH data AS (${DATASET_SQL}) ${sql}`)).getRows()
  } finally {
    conn.closeSync()
    inst.closeSync()
  }
}

describe('per-unit function analysis', () => {
  it('each unit answers once, on its own rows, in a deterministic order', async () => {
    const r = await run({ source: '(rows) => 1', output: parseOutputSpec('number:0:1'), aggregate: 'sum' })
    assert.equal(r.stats.units, 150)
    assert.deepEqual(r.columns.map((c) => c.name), ['sum', 'units'])
    assert.ok(Math.abs((r.rows[0]![0] as number) - 150) < 10, String(r.rows[0]))
    // Each call sees exactly one unit's rows, every row of it (the unit has ≤ 1000 rows here).
    const one = await run({ source: '(rows) => new Set(rows.map((r) => r.uid)).size === 1 && rows.length >= 13 ? 1 : 0', output: parseOutputSpec('number:0:1'), aggregate: 'sum' })
    assert.ok(Math.abs((one.rows[0]![0] as number) - 150) < 10, String(one.rows[0]))
    const again = await run({ source: '(rows) => 1', output: parseOutputSpec('number:0:1'), aggregate: 'sum' })
    assert.deepEqual(again.rows, r.rows, 'the same job seed draws the same noise')
  })

  it('a mean of per-unit averages matches the plaintext within the noise', async () => {
    const [[expected]] = (await truth('SELECT avg(a) FROM (SELECT uid, least(avg(amount), 100) AS a FROM data GROUP BY uid)')) as [[number]]
    const r = await run({ source: '(rows) => rows.reduce((s, r) => s + r.amount, 0) / rows.length', output: parseOutputSpec('number:0:100'), aggregate: 'mean' })
    assert.ok(Math.abs((r.rows[0]![0] as number) - expected) < 5, `${r.rows[0]![0]} vs ${expected}`)
    assert.ok(r.privacy.noiseScale['mean']! > 0)
  })

  it('the male / female histogram, grouped by a dimension, under the k rule', async () => {
    // "Majority device" per unit and region: mobile users count as one category.
    const source = `(rows) => rows.filter((r) => r.device === 'mobile').length * 2 > rows.length ? 'mobile' : 'other'`
    const r = await run({ source, output: parseOutputSpec('category:mobile,other'), aggregate: 'histogram', groupBy: 'region' }, { epsilon: 8 })
    assert.deepEqual(r.columns.map((c) => c.name), ['region', 'category', 'units'])
    const regions = [...new Set(r.rows.map((x) => x[0]))]
    assert.deepEqual(regions.sort(), ['east', 'north', 'south'], "region 'tiny' has 3 units < k = 5: not released")
    const [[n]] = (await truth("SELECT count(DISTINCT uid) FROM data WHERE region = 'north'")) as [[bigint]]
    const north = r.rows.filter((x) => x[0] === 'north').reduce((s, x) => s + Number(x[2]), 0)
    assert.ok(Math.abs(north - Number(n)) < 10, `${north} vs ${n}`)
  })

  it('a function that tries to return a unit\'s raw value gets nothing out', async () => {
    const email = await run({ source: '(rows) => rows[0].email', output: parseOutputSpec('number:0:100'), aggregate: 'sum' })
    assert.ok(Math.abs(email.rows[0]![0] as number) < 2000, 'a string counts as 0: the sum is noise around 0')
    assert.ok(!JSON.stringify(email, (_, v) => (typeof v === 'bigint' ? String(v) : v)).includes('@example.com'))
    const id = await run({ source: '(rows) => rows[0].uid * 1000', output: parseOutputSpec('number:0:100'), aggregate: 'sum' })
    assert.ok(Math.abs((id.rows[0]![0] as number) - 149 * 100) < 2000, 'ids encoded in a number are clamped to the bound')
    const cat = await run({ source: '(rows) => String(rows[0].uid)', output: parseOutputSpec('category:0,1'), aggregate: 'histogram' })
    assert.deepEqual(cat.rows.map((x) => x[0]), ['0', '1'], 'only the declared categories are ever released')
  })

  it('a function exceeding its limits on one unit answers the default for it: the job answers', async () => {
    const r = await run({ source: '(rows) => { if (rows[0].uid === 42) for (;;) {} return 1 }', output: parseOutputSpec('number:0:1'), aggregate: 'sum' })
    assert.equal(r.stats.units, 150)
    assert.ok(Math.abs((r.rows[0]![0] as number) - 149) < 10, String(r.rows[0]))
  })

  it('refuses before reading rows: no function in the policy, a denied or unlisted hash, ε = 0, a group by that is not a dimension', async () => {
    const fn = { source: '(rows) => 1', output: parseOutputSpec('number:0:1'), aggregate: 'sum' as const }
    const h = functionHash(fn.source)
    const denied = async (p: unknown, code: string) => assert.rejects(run(fn, { policy: parsePolicy(p) }), (e: unknown) => isW3aError(e, code as never), JSON.stringify(p))
    await denied({ ...POLICY }, 'ACCESS_DENIED')
    await denied({ ...POLICY, analyses: ['function'], functionDeny: [h] }, 'ACCESS_DENIED')
    await denied({ ...POLICY, analyses: ['function'], functionAllow: [`0x${'11'.repeat(32)}`] }, 'ACCESS_DENIED')
    const allowed = await run(fn, { policy: parsePolicy({ ...POLICY, analyses: ['function'], functionAllow: [h] }) })
    assert.equal(allowed.rows.length, 1)
    await assert.rejects(run(fn, { epsilon: 0 }), (e: unknown) => isW3aError(e, 'QUERY_REFUSED'))
    await assert.rejects(run({ ...fn, groupBy: 'email' }), (e: unknown) => isW3aError(e, 'QUERY_REFUSED'))
    await assert.rejects(run({ ...fn, source: 'rows =>' }), (e: unknown) => isW3aError(e, 'QUERY_REFUSED'))
  })
})
