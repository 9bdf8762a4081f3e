/**
 * A differentially private quantile: the exponential mechanism over the owner's public range
 * (Smith, "Privacy-preserving statistical estimation with optimal convergence rates", STOC 2011;
 * the interval form as in Gillenwater, Joseph, Kulesza, "Differentially Private Quantiles",
 * ICML 2021). The sorted, clamped values cut [lower, upper] into n + 1 intervals; interval j
 * (j values below it) scores u_j = −|j − level·n|. One unit adds or removes at most C values of
 * a group, which moves every score by at most C, so picking interval j with probability
 * ∝ length_j · exp(ε·u_j / (2C)), then a point uniformly in it, is ε-DP. The answer never needs
 * to be a value from the data; with no values it is uniform over the range.
 */
import type { Rng } from './dp-noise.js'

/** Uniform in (0, 1) with 53 random bits. */
function uniform(rng: Rng): number {
  return (rng.randomInt(2 ** 26) * 2 ** 27 + rng.randomInt(2 ** 27) + 0.5) / 2 ** 53
}

export function sampleQuantile(values: readonly number[], o: { level: number; lower: number; upper: number; epsilon: number; sensitivity: number; rng: Rng }): number {
  const v = values.map((x) => Math.min(o.upper, Math.max(o.lower, x))).sort((a, b) => a - b)
  const n = v.length
  const edges = [o.lower, ...v, o.upper]
  const logs: number[] = []
  for (let j = 0; j <= n; j++) {
    const length = edges[j + 1]! - edges[j]!
    logs.push(length > 0 ? Math.log(length) - (o.epsilon * Math.abs(j - o.level * n)) / (2 * o.sensitivity) : -Infinity)
  }
  const top = Math.max(...logs)
  if (top === -Infinity) return o.lower // lower = upper: the range is one point
  const weights = logs.map((l) => Math.exp(l - top))
  let r = uniform(o.rng) * weights.reduce((a, b) => a + b, 0)
  let pick = weights.length - 1
  for (let j = 0; j < weights.length; j++) {
    r -= weights[j]!
    if (r <= 0 && weights[j]! > 0) {
      pick = j
      break
    }
  }
  return edges[pick]! + uniform(o.rng) * (edges[pick + 1]! - edges[pick]!)
}
