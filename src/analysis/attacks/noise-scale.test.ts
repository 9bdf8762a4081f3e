// A noise scale past what the sampler draws (dp-noise.ts: ≤ 1e12). The gate draws a group's
// noisy unit count only for groups with ≥ k units, so a scale the sampler refuses failed the
// query only when such a group existed: under a policy with a tiny minimum ε, an analyst
// spreading ε over ~100 quantities (quantile levels) with G = 10,000 groups per unit learned
// whether their WHERE selected k units, i.e. whether one person was there. Mounted on the job
// path (runSqlAnalysis, then the failure the worker would seal), with and without the person.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { parsePolicy } from '../../custody/policy.js'
import { runSqlAnalysis } from '../run-analysis.js'
import { DEFAULT_MODE, jobOutcome, makePlantedData, type PlantedData } from './fixture.test.js'

let data: PlantedData
before(async () => {
  data = await makePlantedData()
})
after(() => data.close())

// The owner allows ε down to 10⁻⁶ per query (δ small enough for the budget's many queries).
const policy = parsePolicy({ ...DEFAULT_MODE, minEpsilon: 1e-6, defaultEpsilon: 1e-6, delta: 1e-13 })
const levels = Array.from({ length: 110 }, (_, i) => `quantile_cont(amount, ${(0.25 + i * 0.004).toFixed(3)})`).join(', ')
// One group: the person (Atlantis) and the four Paris people aged ≤ 22 (uids 0, 52, 100, 152), k = 5.
const sql = `SELECT CASE WHEN city IN ('Atlantis', 'Paris') THEN 'x' END AS g, count(*), ${levels} FROM data WHERE city = 'Atlantis' OR (city = 'Paris' AND age <= 22) GROUP BY g`

function outcome(files: string[]): Promise<string> {
  return jobOutcome(() => runSqlAnalysis({ segmentFiles: files, privacyUnit: 'uid', policy, sql, epsilon: 1e-6, contribution: { maxRowsPerUnit: 1, maxGroupsPerUnit: 10_000 }, noiseSeed: new Uint8Array(32).fill(2) }))
}

test('a noise scale too large to draw is refused whatever the rows, not only when a group reaches k', async () => {
  const [withPerson, without] = [await outcome(data.withPerson), await outcome(data.without)]
  assert.equal(withPerson, without, 'the outcome depends on the person')
  assert.match(withPerson, /^query-refused: .*noise/i)
})
