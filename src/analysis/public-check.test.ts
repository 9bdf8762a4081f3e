import assert from 'node:assert/strict'
import { test } from 'node:test'
import { W3aError } from '../core/errors.js'
import { parsePrivacyParams, type PrivacyParams } from './analysis-request.js'
import { datasetAndParser, POLICY } from './fixture.test.js'
import { checkQueryPublic } from './public-check.js'
import { runSqlAnalysis } from './run-analysis.js'

// The fixture's manifest as an analyst sees it: names and the privacy unit, no policy.
const COLUMNS = ['uid', 'email', 'region', 'device', 'plan', 'amount', 'visits'].map((name) => ({ name }))
const t = datasetAndParser()

const local = (sql: string, privacy: Partial<PrivacyParams> = {}) =>
  checkQueryPublic({ parser: t.parser, columns: COLUMNS, privacyUnit: 'uid', sql, privacy: parsePrivacyParams({ epsilon: 0, ...privacy }) })
const worker = (sql: string, privacy: Partial<PrivacyParams> = {}) =>
  runSqlAnalysis({ segmentFiles: t.ds.files, privacyUnit: 'uid', policy: POLICY, sql, epsilon: 0, ...privacy })

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string; details: readonly string[] }> {
  try {
    await p
  } catch (e) {
    assert.ok(e instanceof W3aError, String(e))
    return { code: e.code, message: e.shortMessage, details: e.details }
  }
  assert.fail('not refused')
}

const REFUSED: [string, Partial<PrivacyParams>?][] = [
  ['SELEC count(*) FROM data'],
  ['SELECT region, count(*) FROM data GROUP BY regoin'],
  ['SELECT uid, amount FROM data'],
  ['SELECT count(*) FROM data a JOIN data b ON a.uid = b.uid'],
  ["SELECT region, string_agg(device, ',') FROM data GROUP BY region"],
  ['SELECT region, count(*) FROM data GROUP BY region; DROP TABLE data'],
  ['SELECT region, stddev(amount) AS s FROM data GROUP BY region', { epsilon: 0.5 }],
  ["SELECT count(*) FROM data WHERE region = 'north'"],
  ['SELECT region, quantile_cont(amount, 1.0) FROM data GROUP BY region'],
  ['SELECT region, sum(amount * amount) FROM data GROUP BY region'],
  ['SELECT region, count(*) FROM data GROUP BY region HAVING count(*) > 3', { epsilon: 0.5 }],
  ['SELECT region, sum(amount) FROM data GROUP BY region ORDER BY 2', { epsilon: 0.5, bounds: { amount: [0, 100] } }],
]

test('the local check refuses what the worker refuses, with its code and message', async () => {
  for (const [sql, privacy] of REFUSED) {
    const mine = await refusal(local(sql, privacy))
    assert.equal(mine.code, 'QUERY_REFUSED', sql)
    // Details may name the owner's own terms (its quantile range), unknown locally.
    const theirs = await refusal(worker(sql, privacy))
    assert.deepEqual([mine.code, mine.message], [theirs.code, theirs.message], sql)
  }
})

test('the local check accepts what the worker runs', async () => {
  for (const [sql, privacy] of [
    ['SELECT region, count(*) AS n, avg(amount) FROM data GROUP BY region', { epsilon: 0.5 }],
    ['SELECT count(*) AS n, avg(amount), quantile_cont(visits, 0.5) FROM data'],
    ["SELECT device, count(DISTINCT uid) FROM data WHERE amount > 20 AND region <> 'tiny' GROUP BY device", { epsilon: 0.5 }],
    ['SELECT count(*), sum(amount) FROM data', { epsilon: 0.5 }],
    ['SELECT region, count(DISTINCT uid) AS people, sum(amount) AS total FROM data GROUP BY region ORDER BY region', { epsilon: 0.5, bounds: { amount: [0, 150] } }],
  ] as [string, Partial<PrivacyParams>?][]) {
    await local(sql, privacy)
    const r = await worker(sql, privacy)
    assert.ok(r.columns.length > 0, sql)
  }
})

test('what only the confidential policy refuses passes locally (it cannot be known before sending)', async () => {
  // POLICY makes email an identifier and allows no min/max; the analyst cannot know that.
  for (const [sql, privacy] of [['SELECT email, count(*) FROM data GROUP BY email', { epsilon: 0.5 }], ['SELECT max(amount) FROM data', {}], ['SELECT quantile_cont(amount, 0.9) FROM data', {}]] as const) {
    await local(sql, privacy)
    assert.equal((await refusal(worker(sql, privacy))).code, 'QUERY_REFUSED', sql)
  }
})

test('a dataset without a privacy unit: rows are the unit, as in the worker', async () => {
  const r = await checkQueryPublic({ parser: t.parser, columns: COLUMNS, privacyUnit: null, sql: 'SELECT uid, count(*) FROM data GROUP BY uid', privacy: parsePrivacyParams({ epsilon: 0.5 }) })
  assert.deepEqual(r.checked.groupKeys, ['uid'])
  await assert.rejects(
    checkQueryPublic({ parser: t.parser, columns: COLUMNS, privacyUnit: null, sql: 'SELECT __w3a_row FROM data', privacy: parsePrivacyParams({ epsilon: 0 }) }),
    (e: unknown) => e instanceof W3aError && e.code === 'QUERY_REFUSED',
  )
})
