import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { after, before, test } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import { sampleQuantile } from './dp-quantile.js'
import { DATASET_SQL, makeDataset, POLICY, seededRng } from './fixture.test.js'
import { runSqlAnalysis } from './run-analysis.js'

let ds: { dir: string; files: string[] }
before(async () => {
  ds = await makeDataset()
})
after(async () => {
  await rm(ds.dir, { recursive: true, force: true })
})

test('the exponential mechanism lands near the quantile when ε is large, and spreads over the range when it is small', () => {
  const values = Array.from({ length: 1000 }, (_, i) => i / 10) // 0 … 99.9
  const draw = (epsilon: number, seed: bigint) => sampleQuantile(values, { level: 0.5, lower: 0, upper: 100, epsilon, sensitivity: 1, rng: seededRng(seed) })
  const tight = Array.from({ length: 200 }, (_, i) => draw(5, BigInt(i)))
  assert.ok(tight.every((x) => Math.abs(x - 50) < 2), `ε 5: ${Math.min(...tight)}…${Math.max(...tight)}`)
  const loose = Array.from({ length: 200 }, (_, i) => draw(0.001, BigInt(i)))
  assert.ok(loose.some((x) => x < 25) && loose.some((x) => x > 75), 'ε 0.001: spread over the range')
  assert.ok([...tight, ...loose].every((x) => x >= 0 && x <= 100))
  // No values: uniform over the range; a one-point range: that point.
  assert.ok(draw(1, 1n) >= 0)
  assert.equal(sampleQuantile([], { level: 0.5, lower: 3, upper: 3, epsilon: 1, sensitivity: 1, rng: seededRng(1n) }), 3)
})

test('DP quantiles through the gate: per group, near the true median at a generous ε, inside the owner range', async () => {
  const inst = await DuckDBInstance.create(':memory:')
  const conn = await inst.connect()
  await conn.run(`CREATE TABLE data AS ${DATASET_SQL}`)
  const truth = new Map((await conn.runAndReadAll('SELECT device, median(amount) FROM data GROUP BY device')).getRows().map((r) => [String(r[0]), Number(r[1])]))
  conn.closeSync()
  inst.closeSync()
  const r = await runSqlAnalysis({ segmentFiles: ds.files, privacyUnit: 'uid', policy: POLICY, epsilon: 8, sql: 'SELECT device, median(amount) AS med, quantile_cont(amount, 0.5) AS again FROM data GROUP BY device ORDER BY device', contribution: { maxRowsPerUnit: 10, maxGroupsPerUnit: 1 }, rng: seededRng(7n) })
  assert.deepEqual(r.columns.map((c) => c.type), ['VARCHAR', 'DOUBLE', 'DOUBLE'])
  assert.ok(r.rows.length >= 2)
  for (const [device, med, again] of r.rows as [string, number, number][]) {
    assert.equal(med, again, 'one quantity, one draw')
    assert.ok(med >= 0 && med <= 200)
    assert.ok(Math.abs(med - truth.get(device)!) < 15, `${device}: ${med} vs ${truth.get(device)}`)
  }
  assert.ok(r.privacy.noiseScale['med']! > 0)
  // Outside the policy's quantile range a quantile is a min or max in disguise, under DP too.
  await assert.rejects(runSqlAnalysis({ segmentFiles: ds.files, privacyUnit: 'uid', policy: POLICY, epsilon: 1, sql: 'SELECT quantile_cont(amount, 0.99) FROM data' }), /level 0.99/)
})
