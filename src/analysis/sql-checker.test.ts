// The checker's grouping keys that are expressions of dimensions (named by alias in GROUP BY):
// what passes, what is refused, and that the expression cannot make a query fail on the rows.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isW3aError } from '../core/errors.js'
import { datasetAndParser, POLICY, seededRng } from './fixture.test.js'
import { runSqlAnalysis } from './run-analysis.js'
import { checkSql } from './sql-checker.js'

const COLUMNS = ['uid', 'email', 'region', 'device', 'plan', 'amount', 'visits']
const t = datasetAndParser()

const check = (sql: string, dp = true) => checkSql(t.parser, sql, { columns: COLUMNS, privacyUnit: 'uid', policy: POLICY, dp })
const dpRun = (sql: string) => runSqlAnalysis({ segmentFiles: t.ds.files, privacyUnit: 'uid', policy: POLICY, sql, epsilon: 5, rng: seededRng(7n) })

describe('GROUP BY an expression of dimensions (DP only)', () => {
  it('groups by the expression and releases its values under the gate', async () => {
    const c = await check("SELECT CASE WHEN region IN ('north', 'south') THEN 'ns' ELSE region END AS zone, count(DISTINCT uid) AS people FROM data GROUP BY zone")
    assert.deepEqual(c.groupKeys, ['zone'])
    assert.equal(c.outputs[0]!.role, 'group')
    assert.match(c.sql, /TRY\(CASE/i)
    const r = await dpRun("SELECT CASE WHEN region IN ('north', 'south') THEN 'ns' ELSE region END AS zone, count(DISTINCT uid) AS people FROM data GROUP BY zone")
    const byZone = Object.fromEntries(r.rows.map((row) => [String(row[0]), Number(row[1])]))
    // north + south are 98 of the 150 units, east 49; 'tiny' (3 units) stays under the threshold.
    assert.deepEqual(Object.keys(byZone).sort(), ['east', 'ns'])
    assert.ok(Math.abs(byZone['ns']! - 98) <= 6 && Math.abs(byZone['east']! - 49) <= 6, JSON.stringify(byZone))
  })

  it('evaluates the expression inside TRY: a value it cannot convert is a NULL key, not a failed query', async () => {
    // region is not JSON: json_extract_string errors on every row without TRY.
    const r = await dpRun("SELECT json_extract_string(region, '$.a') AS a, count(*) AS n FROM data GROUP BY a")
    assert.deepEqual(r.rows.map((row) => row[0]), [null])
  })

  it('refuses keys over identifiers or measures, aggregate aliases, and any expression key in exact mode', async () => {
    const refused: [string, boolean, RegExp][] = [
      ["SELECT lower(email) AS e, count(*) FROM data GROUP BY e", true, /identifier column email/],
      ['SELECT amount + 1 AS a, count(*) FROM data GROUP BY a', true, /measure amount/],
      ['SELECT count(*) AS c FROM data GROUP BY c', true, /an aggregate/],
      ['SELECT lower(region) AS r, count(*) FROM data GROUP BY r', false, /exact query/],
      ['SELECT lower(region) AS r, count(*) FROM data GROUP BY lower(region)', true, /GROUP BY expression/],
    ]
    for (const [sql, dp, why] of refused) {
      await assert.rejects(check(sql, dp), (e: unknown) => isW3aError(e, 'QUERY_REFUSED') && why.test(String((e as Error).message)), sql)
    }
  })
})
