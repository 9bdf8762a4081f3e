// A per-unit function that hits a sandbox limit (steps, heap, stack) only on one person's rows.
// If a limit hit stopped the job, the job's failure would answer "is this person in the data,
// with this value?" with certainty, one exact bit per job for the job's ε: a binary search on
// their amount in a dozen jobs. Mounted on the job path (runFunctionAnalysis, then the failure
// the worker would seal), with and without the person: both must answer, noised.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { parsePolicy } from '../../custody/policy.js'
import { parseOutputSpec } from '../unit-function/output-type.js'
import { runFunctionAnalysis } from '../unit-function/run-function.js'
import { DEFAULT_MODE, jobOutcome, makePlantedData, type PlantedData } from './fixture.test.js'

let data: PlantedData
before(async () => {
  data = await makePlantedData()
})
after(() => data.close())

const policy = parsePolicy({ ...DEFAULT_MODE, analyses: ['sql', 'function'] })

function outcome(files: string[], source: string): Promise<string> {
  return jobOutcome(() => runFunctionAnalysis({ segmentFiles: files, privacyUnit: 'uid', policy, fn: { source, output: parseOutputSpec('number:0:1'), aggregate: 'sum' }, epsilon: 1, noiseSeed: new Uint8Array(32).fill(4) }))
}

test('a function that hits a limit only on one person\'s rows does not end the job: no failure tells they exist', async () => {
  const person = "rows.some((r) => r.city === 'Atlantis' && r.amount > 900)"
  for (const hit of ['for (;;) {}', 'const a = []; for (;;) a.push(new Array(100000).fill(1))', 'const f = (n) => f(n + 1) + 1; f(0)', 'let s = "x"; for (;;) s += s']) {
    const source = `(rows) => { if (${person}) { ${hit} } return 1 }`
    const [withPerson, without] = [await outcome(data.withPerson, source), await outcome(data.without, source)]
    assert.equal(withPerson, without, `${hit}: the outcome depends on the person`)
    assert.equal(withPerson, 'answer with 1 row(s)', hit)
  }
})
