// The attack suite of issue 9: each family of attacks a determined analyst tried, as many
// queries against a planted person, run through the path a job runs (runSqlAnalysis, then what
// jobs.ts seals to the analyst: failureOfError / failureDetail) in three modes:
//
//   exact    the owner opted in to exact answers and the analyst asks with ε = 0;
//   default  a new dataset's policy, the analyst names no ε (the policy's default per query);
//   eps1     the default policy, an analyst spending ε = 1 on one query (their whole share),
//            so that groups are large enough to be released and the attacks see numbers.
//
// Every query runs on the dataset with the person and on the one without. What must hold:
// whether a query is refused or fails, and the text an analyst would get, is the same on both
// (so no outcome tells membership); no text the analyst did not write names the person's data;
// `suppressed` is never reported; no group key names the hidden category; and no attack's
// arithmetic recovers the planted value. DP noise is checked statistically in dp-statistics.test.ts.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { W3aError } from '../../core/errors.js'
import { DEFAULT_POLICY, parsePolicy, type CustodyPolicy } from '../../custody/policy.js'
import { parsePrivacyParams } from '../analysis-request.js'
import { failureDetail, failureOfError } from '../job-failure.js'
import { runSqlAnalysis } from '../run-analysis.js'
import { DEFAULT_MODE, EXACT_MODE, makePlantedData, PLANTED, SECRETS, type PlantedData } from './fixture.test.js'

type Mode = 'exact' | 'default' | 'eps1'
const MODES: Mode[] = ['exact', 'default', 'eps1']

type Outcome = { kind: 'answer'; rows: unknown[][]; suppressed: number | null; epsilon: number } | { kind: 'failure'; reason: string; text: string }

let data: PlantedData
before(async () => {
  data = await makePlantedData()
})
after(async () => {
  await data.close()
})

let seedCounter = 0
/** One job: its own noise seed (as custody derives one per job), the same on both datasets. */
async function ask(files: string[], mode: Mode, sql: string, seed: number): Promise<Outcome> {
  const policy: CustodyPolicy = mode === 'exact' ? EXACT_MODE : DEFAULT_MODE
  try {
    const r = await runSqlAnalysis({
      segmentFiles: files,
      privacyUnit: 'uid',
      policy,
      sql,
      ...(mode === 'exact' ? { epsilon: 0 } : mode === 'eps1' ? { epsilon: 1 } : {}),
      noiseSeed: Uint8Array.from({ length: 32 }, (_, i) => (i < 4 ? (seed >> (8 * i)) & 255 : 7)),
    })
    return { kind: 'answer', rows: r.rows, suppressed: r.privacy.suppressed, epsilon: r.privacy.epsilonSpent }
  } catch (e) {
    if (!(e instanceof W3aError)) throw e
    const reason = failureOfError(e)
    return { kind: 'failure', reason, text: failureDetail(reason, e) }
  }
}

type Attack = {
  name: string
  queries: string[]
  /** The attacker's estimate of the planted amount from the answers (NaN: no estimate). */
  estimate?: (answers: unknown[][][]) => number
}

const num = (rows: unknown[][], row = 0, col = 0): number => (rows[row] === undefined ? NaN : Number(rows[row]![col] ?? NaN))
const diff = (a: unknown[][][]) => num(a[0]!) - num(a[1]!)

const FAMILIES: Record<string, Attack[]> = {
  '1. exact answers by default: differencing with and without the person': [
    { name: 'by a dimension', queries: ['SELECT sum(amount) FROM data', "SELECT sum(amount) FROM data WHERE city <> 'Atlantis'"], estimate: diff },
    { name: 'by a LIKE pattern', queries: ['SELECT sum(amount) FROM data', "SELECT sum(amount) FROM data WHERE city NOT LIKE 'Atl%'"], estimate: diff },
    { name: 'by a date', queries: ['SELECT sum(amount) FROM data', "SELECT sum(amount) FROM data WHERE signup >= DATE '2000-01-01'"], estimate: diff },
    { name: 'by a measure threshold', queries: ['SELECT sum(amount) FROM data', 'SELECT sum(amount) FROM data WHERE amount < 900'], estimate: diff },
    { name: 'by a numeric dimension', queries: ['SELECT sum(amount) FROM data WHERE age >= 0', 'SELECT sum(amount) FROM data WHERE age > 0'], estimate: diff },
    { name: 'average times count', queries: ["SELECT avg(amount) * 0 + sum(amount) FROM data WHERE sex = 'f'", "SELECT sum(amount) FROM data WHERE sex = 'f' AND age > 0"], estimate: diff },
    { name: 'group totals vs the whole', queries: ['SELECT sum(amount) FROM data', 'SELECT city, sum(amount) FROM data GROUP BY city'], estimate: (a) => num(a[0]!) - a[1]!.reduce((s, r) => s + Number(r[1]), 0) },
    { name: 'a coarser and a finer grouping', queries: ['SELECT sex, sum(amount) FROM data GROUP BY sex ORDER BY sex', 'SELECT sex, city, sum(amount) FROM data GROUP BY sex, city ORDER BY sex, city'], estimate: (a) => num(a[0]!, 0, 1) - a[1]!.filter((r) => r[0] === 'f').reduce((s, r) => s + Number(r[2]), 0) },
  ],
  '2. conditions inside aggregates': [
    { name: 'CASE on a rare category', queries: ["SELECT sum(CASE WHEN city = 'Atlantis' THEN amount ELSE 0 END) FROM data"], estimate: (a) => num(a[0]!) },
    { name: 'comparison as a factor', queries: ['SELECT sum(amount * (age = 0)::INTEGER) FROM data'], estimate: (a) => num(a[0]!) },
    { name: 'a date test inside, grouped by a big dimension', queries: ["SELECT sex, sum(CASE WHEN signup < DATE '2000-01-01' THEN amount ELSE 0 END) FROM data GROUP BY sex ORDER BY sex"], estimate: (a) => num(a[0]!, 0, 1) },
    { name: 'counting rows that match (membership)', queries: ['SELECT count(CASE WHEN age = 0 THEN 1 END) FROM data'] },
    { name: 'a measure threshold inside (membership)', queries: ['SELECT sum(CASE WHEN amount > 900 THEN 1 ELSE 0 END) FROM data'] },
    { name: 'nullif picks one value', queries: ["SELECT avg(nullif(amount, amount * (city <> 'Atlantis')::INTEGER)) FROM data"], estimate: (a) => num(a[0]!) },
    { name: 'greatest inside', queries: ['SELECT sum(greatest(amount, 900)) - 900 * count(*) FROM data'], estimate: (a) => num(a[0]!) + 900 },
    { name: 'LIKE inside', queries: ["SELECT sum(amount * (city LIKE 'Atl%')::INTEGER) FROM data"], estimate: (a) => num(a[0]!) },
  ],
  '3. extremes in disguise': [
    { name: 'quantile at 1.0', queries: ['SELECT quantile_cont(amount, 1.0) FROM data'], estimate: (a) => num(a[0]!) },
    { name: 'quantile at integer 1', queries: ['SELECT quantile_cont(amount, 1) FROM data'], estimate: (a) => num(a[0]!) },
    { name: 'approx_quantile just below 1', queries: ['SELECT approx_quantile(amount, 0.999999) FROM data'], estimate: (a) => num(a[0]!) },
    { name: 'quantile at 0 of the negated order', queries: ['SELECT quantile_cont(amount, 0.0) FROM data'] },
    { name: 'max where the policy forbids it', queries: ['SELECT max(amount) FROM data'], estimate: (a) => num(a[0]!) },
    { name: 'log-sum-exp', queries: ['SELECT ln(sum(exp(amount))) FROM data'], estimate: (a) => num(a[0]!) },
    { name: 'high power mean', queries: ['SELECT power(sum(power(amount, 60)), 1.0 / 60) FROM data'], estimate: (a) => num(a[0]!) },
    { name: 'exp inside a sum', queries: ['SELECT ln(sum(exp(amount / 10))) * 10 FROM data'], estimate: (a) => num(a[0]!) },
    { name: 'median is allowed and is nobody in particular', queries: ['SELECT median(amount) FROM data'], estimate: (a) => num(a[0]!) },
  ],
  '4. suppressed as a yes/no oracle': [
    { name: 'a measure range', queries: ['SELECT count(*) FROM data WHERE amount BETWEEN 987 AND 988'] },
    { name: 'binary search step', queries: ['SELECT count(*) FROM data WHERE amount > 900'] },
    { name: 'grouped under a filter', queries: ['SELECT city, count(*) FROM data WHERE amount > 900 GROUP BY city'] },
    { name: 'the hidden category as a group', queries: ['SELECT city, count(*) FROM data GROUP BY city ORDER BY city'] },
    { name: 'the rare date as a group', queries: ["SELECT signup, count(*) FROM data WHERE signup < DATE '2000-06-01' GROUP BY signup"] },
    { name: 'the rare age as a group', queries: ['SELECT age, count(DISTINCT uid) FROM data WHERE age < 20 GROUP BY age'] },
  ],
  '5. failure oracles': [
    { name: 'logarithm of zero', queries: ['SELECT count(*) FROM data WHERE ln(age) > 1'] },
    { name: 'square root of a negative', queries: ['SELECT count(*) FROM data WHERE sqrt(age - 10) > 0'] },
    { name: 'integer overflow', queries: ['SELECT count(*) FROM data WHERE (30 - age) * 461168601842738790 > 0'] },
    { name: 'a data value as a date part', queries: ['SELECT count(*) FROM data WHERE date_trunc(unit_name, signup) IS NOT NULL'] },
    { name: 'a data value as a date_part unit', queries: ['SELECT count(*) FROM data WHERE date_part(unit_name, signup) > 0'] },
    { name: 'a cast that fails on one value', queries: ['SELECT count(*) FROM data WHERE CAST(unit_name AS INTERVAL) IS NULL'] },
    { name: 'a failure inside an aggregate', queries: ['SELECT sum(ln(age)) FROM data', 'SELECT sum(amount / (age = 0)::INTEGER) FROM data'] },
    { name: 'a failure in ORDER BY', queries: ['SELECT sex, avg(age) AS a FROM data GROUP BY sex ORDER BY ln(a - 20)'] },
    { name: 'modulo by a data value', queries: ['SELECT count(*) FROM data WHERE 10 % age = 0'] },
    { name: 'power overflow', queries: ['SELECT count(*) FROM data WHERE power(10, 400 - age) > 0'] },
  ],
  '6. error texts that quote data': [
    { name: 'implicit cast of a text dimension', queries: ['SELECT count(*) FROM data WHERE city = 5'] },
    { name: 'an implicit cast that reaches only the rare row', queries: ["SELECT count(*) FROM data WHERE CASE WHEN age = 0 THEN city ELSE '1' END = 5"] },
    { name: 'a date part that reaches only the rare row', queries: ["SELECT count(*) FROM data WHERE date_trunc(CASE WHEN age < 20 THEN unit_name ELSE 'year' END, signup) IS NULL"] },
    { name: 'implicit cast in IN', queries: ['SELECT count(*) FROM data WHERE city IN (1, 2)'] },
    { name: 'a text dimension as a date', queries: ['SELECT count(*) FROM data WHERE city::DATE IS NULL'] },
    { name: 'a text dimension in date arithmetic', queries: ['SELECT count(*) FROM data WHERE date_trunc(city, signup) IS NULL'] },
    { name: 'a hidden category through a grouped cast', queries: ['SELECT sex, count(*) FROM data WHERE CAST(city AS INTEGER) IS NULL GROUP BY sex'] },
  ],
}

for (const [family, attacks] of Object.entries(FAMILIES)) {
  describe(family, () => {
    for (const mode of MODES) {
      test(`${mode}: ${attacks.length} attacks, ${attacks.reduce((n, a) => n + a.queries.length, 0)} queries`, async () => {
        const problems: string[] = []
        for (const attack of attacks) {
          const answers: unknown[][][] = []
          for (const sql of attack.queries) {
            const seed = ++seedCounter
            const [withPerson, without] = [await ask(data.withPerson, mode, sql, seed), await ask(data.without, mode, sql, seed)]
            const where = `${attack.name}: ${sql}`
            // Refused or failed alike with and without the person, with the same text.
            if (withPerson.kind !== without.kind || (withPerson.kind === 'failure' && without.kind === 'failure' && (withPerson.reason !== without.reason || withPerson.text !== without.text))) {
              problems.push(`${where}: outcome depends on the person (${JSON.stringify(withPerson)} vs ${JSON.stringify(without)})`)
            }
            // Resource-free, total queries never fail on the rows: a failure is the checker's, before any row.
            if (withPerson.kind === 'failure' && withPerson.reason !== 'query-refused') problems.push(`${where}: failed with ${withPerson.reason}`)
            for (const o of [withPerson, without]) {
              const seen = o.kind === 'answer' ? JSON.stringify(o.rows, (_, v) => (typeof v === 'bigint' ? v.toString() : v)) : o.text
              for (const s of SECRETS) if (seen.includes(s) && !sql.includes(s)) problems.push(`${where}: the analyst would see "${s}"`)
              if (o.kind === 'answer' && o.suppressed !== null) problems.push(`${where}: suppressed reported`)
              if (o.kind === 'answer' && mode !== 'exact' && !(o.epsilon > 0)) problems.push(`${where}: answered without noise`)
            }
            if (withPerson.kind === 'answer' && without.kind === 'answer' && mode !== 'exact') {
              // Group keys are released by the noisy threshold; the person's own tiny groups never.
              const keys = (rows: unknown[][]) => JSON.stringify(rows.map((r) => r.filter((v) => typeof v === 'string' || v instanceof Object).map(String).join('|')).sort())
              if (keys(withPerson.rows) !== keys(without.rows)) problems.push(`${where}: released groups depend on the person`)
            }
            answers.push(withPerson.kind === 'answer' ? withPerson.rows : [])
          }
          const estimate = attack.estimate?.(answers) ?? NaN
          if (Math.abs(estimate - PLANTED.amount) < 1) problems.push(`${attack.name}: recovered the planted amount (${estimate})`)
        }
        assert.deepEqual(problems, [])
      })
    }
  })
}

describe('7. δ chosen by the analyst, and ε too small to count', () => {
  test('δ is not a privacy parameter an analyst can send; each release reports the policy δ', async () => {
    assert.throws(() => parsePrivacyParams({ epsilon: 0.1, delta: 0.1 }), (e: unknown) => e instanceof W3aError && e.code === 'ANALYSIS_MALFORMED')
    const r = await runSqlAnalysis({ segmentFiles: data.withPerson, privacyUnit: 'uid', policy: DEFAULT_MODE, sql: 'SELECT count(*) FROM data' })
    assert.equal(r.privacy.delta, DEFAULT_MODE.delta)
  })

  test('a query below the policy minimum ε is refused before any row is read, whatever it asks', async () => {
    for (const epsilon of [1e-6, 0.001, 0.049]) {
      await assert.rejects(
        runSqlAnalysis({ segmentFiles: ['/nonexistent/never-read.parquet'], privacyUnit: 'uid', policy: DEFAULT_MODE, sql: 'SELECT count(*) FROM data', epsilon }),
        (e: unknown) => e instanceof W3aError && e.code === 'QUERY_REFUSED' && /minimum ε/.test(e.message),
      )
    }
    // And an exact answer where the owner did not opt in.
    await assert.rejects(
      runSqlAnalysis({ segmentFiles: ['/nonexistent/never-read.parquet'], privacyUnit: 'uid', policy: DEFAULT_MODE, sql: 'SELECT count(*) FROM data', epsilon: 0 }),
      (e: unknown) => e instanceof W3aError && e.code === 'QUERY_REFUSED' && /exact answer/.test(e.message),
    )
  })
})

describe('8. generous defaults', () => {
  test('a new dataset: DP only, a small budget, a share per analyst, and no single query spends a share', () => {
    assert.equal(DEFAULT_POLICY.allowExact, false)
    assert.ok(DEFAULT_POLICY.epsilonBudget <= 3)
    assert.ok(DEFAULT_POLICY.analystEpsilonBudget! < DEFAULT_POLICY.epsilonBudget)
    assert.ok(DEFAULT_POLICY.defaultEpsilon <= DEFAULT_POLICY.analystEpsilonBudget! / 10)
    assert.ok(DEFAULT_POLICY.minEpsilon > 0 && DEFAULT_POLICY.delta <= 1e-6)
    // The total δ of everything the budget can buy stays small (basic composition).
    assert.ok(Math.floor(DEFAULT_POLICY.epsilonBudget / DEFAULT_POLICY.minEpsilon) * DEFAULT_POLICY.delta <= 1e-5)
  })
})

describe('9. silent policy mistakes', () => {
  test('a policy naming a column the dataset lacks is refused with the dataset columns, before any query', async () => {
    const typo = parsePolicy({ k: 5, columns: { identifiers: [], dimensions: ['cty'], measures: ['amount'] }, bounds: { amount: [0, 1000] } })
    await assert.rejects(runSqlAnalysis({ segmentFiles: data.withPerson, privacyUnit: 'uid', policy: typo, sql: 'SELECT count(*) FROM data' }), (e: unknown) => {
      assert.ok(e instanceof W3aError && e.code === 'POLICY_INVALID', String(e))
      assert.match(e.message, /cty/)
      assert.match(e.details.join('\n'), /uid, city, sex, age, unit_name, signup, amount, qty/)
      return true
    })
    assert.throws(() => parsePolicy({ columns: { identifiers: [], dimensions: [], measures: ['amount'] } }), (e: unknown) => e instanceof W3aError && e.code === 'POLICY_INVALID')
  })
})
