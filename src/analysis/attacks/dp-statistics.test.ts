// The DP promise, checked on repeated releases with a seeded generator: for the planted person's
// dataset D and the same without them D', every event E of the released output satisfies
//   P[M(D) ∈ E] ≤ e^ε · P[M(D') ∈ E] + δ   (and the other way round),
// here for the events "output ≥ t" over a grid of t and "the group is released". The queries run
// through the worker's own checker, DP planner and gate (as runSqlAnalysis runs them): the rows
// are aggregated once, then the gate draws noise many times. Sampling error is allowed for with a
// Hoeffding bound, and each check is shown to catch a mechanism that claims ε but noises less.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { parsePolicy, type CustodyPolicy } from '../../custody/policy.js'
import { planDpQuery } from '../dp-query.js'
import { openAnalysisRunner } from '../duckdb-runner.js'
import { seededRng } from '../fixture.test.js'
import { gateDp } from '../privacy-gate.js'
import { runnerParser } from '../run-analysis.js'
import { checkSql } from '../sql-checker.js'
import { DEFAULT_MODE, makePlantedData, type PlantedData } from './fixture.test.js'

const N = 3000
// P[|p̂ − p| > SLACK] ≤ 2·exp(−2·N·SLACK²) ≈ 1e-7 per estimate.
const SLACK = Math.sqrt(Math.log(2e7) / (2 * N))

let data: PlantedData
before(async () => {
  data = await makePlantedData()
})
after(async () => {
  await data.close()
})

type Release = ((seed: bigint) => unknown[][]) & { raw: unknown[][] }

/** The query's rows as the gate sees them, aggregated once; each call draws fresh noise. */
async function releases(files: string[], sql: string, policy: CustodyPolicy, epsilon: number, delta = policy.delta): Promise<Release> {
  const runner = await openAnalysisRunner({ segmentFiles: files })
  try {
    const parser = runnerParser(runner)
    const columns = (await runner.explainColumns()).map((c) => c.name)
    const checked = await checkSql(parser, sql, { columns, privacyUnit: 'uid', policy, dp: true })
    const plan = await planDpQuery(parser, checked, { privacyUnit: 'uid', bounds: policy.bounds })
    const raw = await runner.query(plan.sql)
    const names = checked.outputs.map((_, i) => `c${i}`)
    const release = (seed: bigint) => {
      const rng = seededRng(seed)
      return gateDp(raw, checked, plan, { k: policy.k, epsilon, delta, outputNames: names, noise: () => rng }).rows
    }
    return Object.assign(release, { raw: raw.rows })
  } finally {
    await runner.close()
  }
}

/** Draws N outputs of both datasets (seeds differ between them: independent runs). */
function sample(d: Release, d2: Release, pick: (rows: unknown[][]) => number): [number[], number[]] {
  const a: number[] = []
  const b: number[] = []
  for (let i = 0; i < N; i++) {
    a.push(pick(d(BigInt(i))))
    b.push(pick(d2(BigInt(1_000_000 + i))))
  }
  return [a, b]
}

/** Worst violation of P[X ≥ t] ≤ e^ε P[Y ≥ t] + δ (both ways) over a grid of t, after sampling slack. */
function worstViolation(xs: number[], ys: number[], epsilon: number, delta: number): number {
  const all = [...xs, ...ys].sort((p, q) => p - q)
  let worst = -Infinity
  for (let j = 1; j < 40; j++) {
    const t = all[Math.floor((j / 40) * all.length)]!
    const px = xs.filter((x) => x >= t).length / N
    const py = ys.filter((y) => y >= t).length / N
    worst = Math.max(worst, px - SLACK - (Math.exp(epsilon) * (py + SLACK) + delta), py - SLACK - (Math.exp(epsilon) * (px + SLACK) + delta))
  }
  return worst
}

const first = (rows: unknown[][]) => Number(rows[0]?.[0] ?? NaN)

for (const [what, sql] of [
  ['the differencing sum (the planted amount 987.654 in or out)', 'SELECT sum(amount) FROM data'],
  ['a membership count (only the planted person is aged 0)', 'SELECT count(*) FROM data WHERE age = 0'],
  ['an average over a filter that holds the person', "SELECT avg(amount) FROM data WHERE sex = 'f'"],
  ['a quantile where the person is the only row (the exponential mechanism)', 'SELECT quantile_cont(amount, 0.75) FROM data WHERE age < 1'],
] as const) {
  test(`(ε, δ) holds on repeated releases: ${what}`, async () => {
    const epsilon = 1
    const [xs, ys] = sample(await releases(data.withPerson, sql, DEFAULT_MODE, epsilon), await releases(data.without, sql, DEFAULT_MODE, epsilon), first)
    assert.ok(worstViolation(xs, ys, epsilon, DEFAULT_MODE.delta) <= 0, `violation ${worstViolation(xs, ys, epsilon, DEFAULT_MODE.delta)}`)
    // The check has power: a mechanism that claims ε = 1 but noises for ε = 40 fails it.
    const [bx, by] = sample(await releases(data.withPerson, sql, DEFAULT_MODE, 40), await releases(data.without, sql, DEFAULT_MODE, 40), first)
    assert.ok(worstViolation(bx, by, epsilon, DEFAULT_MODE.delta) > 0, 'a leaky mechanism passed the check')
  })
}

test('partition selection: a group the person lifts to k is released with probability ≤ δ', async () => {
  // The planted person is one of 101 'f' units; with k = 101 the group is eligible only with them.
  const policy = parsePolicy({ ...DEFAULT_MODE, k: 101 })
  const sql = 'SELECT sex, count(*) FROM data GROUP BY sex'
  const shown = (rows: unknown[][]) => (rows.some((r) => r[0] === 'f') ? 1 : 0)
  const [d, d2] = [await releases(data.withPerson, sql, policy, 1), await releases(data.without, sql, policy, 1)]
  // A k rule alone would answer the membership question exactly: 'f' has k units with the person, k − 1 without.
  const units = (r: Release) => Number(r.raw.find((row) => row[0] === 'f')?.[1])
  assert.deepEqual([units(d), units(d2)], [101, 100])
  const [xs, ys] = sample(d, d2, shown)
  const rate = (v: number[]) => v.reduce((s, x) => s + x, 0) / N
  assert.equal(rate(ys), 0) // without the person the group is below k: never
  assert.ok(rate(xs) <= policy.delta + SLACK, `released ${rate(xs)}`)
  // Far above k the same rule releases it every time: the threshold withholds only what is near k.
  const low = parsePolicy({ ...DEFAULT_MODE, k: 5 })
  const [always] = sample(await releases(data.withPerson, sql, low, 1), await releases(data.without, sql, low, 1), shown)
  assert.equal(rate(always), 1)
})
