// The order of a DP release's rows. Without ORDER BY (or with one on some of the keys only),
// DuckDB hands groups back in the order its hash aggregate happens to hold them, which depends
// on every row: on groups the gate then suppresses, and on which rows come first in the file
// (one person's). That order is released as is, outside the noise: the same released groups,
// with and without a hidden person, came back in another order. Mounted on the job path
// (runSqlAnalysis) with the same job seed on both datasets, so the noise is the same too.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { runSqlAnalysis } from '../run-analysis.js'
import { DEFAULT_MODE, makePlantedData, type PlantedData } from './fixture.test.js'

let data: PlantedData
before(async () => {
  data = await makePlantedData()
})
after(() => data.close())

async function rows(files: string[], sql: string): Promise<string> {
  const r = await runSqlAnalysis({ segmentFiles: files, privacyUnit: 'uid', policy: DEFAULT_MODE, sql, epsilon: 1, noiseSeed: new Uint8Array(32).fill(11) })
  return JSON.stringify(r.rows, (_, v) => (typeof v === 'bigint' ? v.toString() : v))
}

test('released rows come in an order of their keys alone: a suppressed person does not move them', async () => {
  for (const sql of [
    'SELECT lower(city) AS c, count(*) FROM data GROUP BY c',
    'SELECT city, count(*) FROM data GROUP BY city',
    'SELECT sex, city, count(*) FROM data GROUP BY sex, city ORDER BY sex DESC',
    'SELECT city, sum(amount) FROM data GROUP BY city LIMIT 2',
  ]) {
    const withPerson = await rows(data.withPerson, sql)
    assert.equal(withPerson, await rows(data.without, sql), `${sql}: the order depends on the person`)
    // And on nothing else: the same job gives the same order again.
    assert.equal(withPerson, await rows(data.withPerson, sql), `${sql}: the order changes from run to run`)
  }
})
