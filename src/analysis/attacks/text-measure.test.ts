// A measure column that holds text (a CSV column of numbers with one "n/a" loads as VARCHAR):
// DP aggregates read it as numbers. If the one text value that does not convert made the query
// fail, a WHERE picking out one person would answer "is this person's value a number?", and
// whether they are in the data at all, with certainty, for one query's ε. Mounted on the job path
// (runSqlAnalysis, then the failure the worker would seal), with and without the person.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { parsePolicy } from '../../custody/policy.js'
import { runSqlAnalysis } from '../run-analysis.js'
import { withSandboxedDuckDb } from '../../storage/duckdb-sandbox.js'
import { jobOutcome } from './fixture.test.js'

const ORDINARY = `SELECT i % 200 AS uid, (20 + i % 50)::INTEGER AS age, CAST(i % 100 AS VARCHAR) AS score FROM range(400) t(i)`
// The person: the only one aged 0, whose score is text.
const PERSON = `SELECT 1000 AS uid, 0::INTEGER AS age, 'n/a' AS score`
const POLICY = parsePolicy({ k: 5, columns: { identifiers: [], dimensions: ['age'], measures: ['score'] }, bounds: { score: [0, 100] } })

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'w3a-text-measure-'))
  await withSandboxedDuckDb({ dirs: [dir] }, async (c) => {
    await c.run(`COPY (${ORDINARY} UNION ALL ${PERSON}) TO '${join(dir, 'with.parquet')}' (FORMAT parquet)`)
    await c.run(`COPY (${ORDINARY}) TO '${join(dir, 'without.parquet')}' (FORMAT parquet)`)
  })
})
after(() => rm(dir, { recursive: true, force: true }))

function outcome(file: string, sql: string): Promise<string> {
  return jobOutcome(() => runSqlAnalysis({ segmentFiles: [join(dir, file)], privacyUnit: 'uid', policy: POLICY, sql, epsilon: 1, noiseSeed: new Uint8Array(32).fill(9) }))
}

test('a text value in a measure column fails no DP query, so a WHERE on one person tells nothing by failing', async () => {
  for (const sql of ['SELECT median(score) FROM data WHERE age < 20', 'SELECT count(score) FROM data WHERE age < 20', 'SELECT median(score) FROM data']) {
    const [withPerson, without] = [await outcome('with.parquet', sql), await outcome('without.parquet', sql)]
    assert.equal(withPerson, without, `${sql}: the outcome depends on the person`)
    assert.equal(withPerson, 'answer with 1 row(s)', sql)
  }
  // DuckDB refuses quantile_cont over text when binding, whatever the rows: the same on both.
  const sql = 'SELECT quantile_cont(score, 0.5) FROM data WHERE age < 20'
  assert.equal(await outcome('with.parquet', sql), await outcome('without.parquet', sql))
})
