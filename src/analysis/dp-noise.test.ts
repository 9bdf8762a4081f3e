import assert from 'node:assert/strict'
import { test } from 'node:test'
import { discreteLaplaceVariance, sampleDiscreteGaussian, sampleDiscreteLaplace } from './dp-noise.js'
import { seededRng } from './fixture.test.js'

const N = 20_000

function stats(xs: number[]) {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length
  return { mean, variance }
}

/** Pearson χ² of observed vs expected counts for |x| buckets 0..m-1 and a tail bucket. */
function chiSquare(xs: number[], pmf: (x: number) => number, m: number): { chi2: number; dof: number } {
  const obs = new Array<number>(m + 1).fill(0)
  for (const x of xs) obs[Math.min(Math.abs(x), m)]!++
  const exp = new Array<number>(m + 1).fill(0)
  for (let a = 0; a < m; a++) exp[a] = N * (a === 0 ? pmf(0) : 2 * pmf(a))
  exp[m] = N - exp.slice(0, m).reduce((a, b) => a + b, 0)
  let chi2 = 0
  for (let a = 0; a <= m; a++) chi2 += (obs[a]! - exp[a]!) ** 2 / exp[a]!
  return { chi2, dof: m }
}

for (const scale of [0.7, 3, 12.5]) {
  test(`discrete Laplace scale ${scale}: mean ≈ 0, variance and χ² match`, () => {
    const rng = seededRng(42n)
    const xs = Array.from({ length: N }, () => sampleDiscreteLaplace(scale, rng))
    const { mean, variance } = stats(xs)
    const v = discreteLaplaceVariance(scale)
    assert.ok(Math.abs(mean) < 4 * Math.sqrt(v / N), `mean ${mean}`)
    assert.ok(Math.abs(variance / v - 1) < 0.06, `variance ${variance} vs ${v}`)
    const q = Math.exp(-1 / scale)
    const pmf = (x: number) => ((1 - q) / (1 + q)) * q ** Math.abs(x)
    const m = Math.max(3, Math.ceil(scale * 3))
    const { chi2, dof } = chiSquare(xs, pmf, Math.min(m, 30))
    // 99.9% quantile of χ² is < dof + 5·sqrt(2·dof) + 10 for these dofs.
    assert.ok(chi2 < dof + 5 * Math.sqrt(2 * dof) + 10, `chi2 ${chi2} dof ${dof}`)
  })
}

for (const sigma2 of [1, 20]) {
  test(`discrete Gaussian σ²=${sigma2}: variance ≈ σ², symmetric`, () => {
    const rng = seededRng(7n)
    const xs = Array.from({ length: N }, () => sampleDiscreteGaussian(sigma2, rng))
    const { mean, variance } = stats(xs)
    assert.ok(Math.abs(mean) < 4 * Math.sqrt(sigma2 / N), `mean ${mean}`)
    // The discrete Gaussian's variance is at most σ² and within a few % of it for σ² ≥ 1.
    assert.ok(variance < sigma2 * 1.05 && variance > sigma2 * 0.9, `variance ${variance}`)
    const norm = Array.from({ length: 201 }, (_, i) => Math.exp(-((i - 100) ** 2) / (2 * sigma2))).reduce((a, b) => a + b)
    const { chi2, dof } = chiSquare(xs, (x) => Math.exp(-(x * x) / (2 * sigma2)) / norm, Math.ceil(Math.sqrt(sigma2) * 3))
    assert.ok(chi2 < dof + 5 * Math.sqrt(2 * dof) + 10, `chi2 ${chi2}`)
  })
}

test('the same seed gives the same draws; the crypto RNG works', () => {
  const a = Array.from({ length: 50 }, ((r) => () => sampleDiscreteLaplace(2, r))(seededRng(1n)))
  const b = Array.from({ length: 50 }, ((r) => () => sampleDiscreteLaplace(2, r))(seededRng(1n)))
  assert.deepEqual(a, b)
  assert.ok(Number.isInteger(sampleDiscreteLaplace(2)))
  assert.ok(Number.isInteger(sampleDiscreteGaussian(2)))
})
