/**
 * Exact samplers for the discrete Laplace and discrete Gaussian distributions, after
 * C. Canonne, G. Kamath, T. Steinke, "The Discrete Gaussian for Differential Privacy"
 * (NeurIPS 2020, arXiv:2004.00010), Algorithms 1–3. They use only uniform integers and
 * exact rational arithmetic (BigInt), so there is no floating-point leakage of the kind
 * Mironov ("On significance of the least significant bits for DP", CCS 2012) showed for
 * textbook Laplace. Production randomness is node:crypto; tests inject a seeded RNG.
 */
import { randomInt } from 'node:crypto'
import { W3aError } from '../core/errors.js'

/** A uniform integer source. `randomInt(n)` is uniform on [0, n), 1 ≤ n ≤ 2^32. */
export type Rng = { randomInt(maxExclusive: number): number }

/** The production RNG: node:crypto's CSPRNG. */
export const cryptoRng: Rng = { randomInt: (n) => randomInt(n) }

const TWO32 = 2n ** 32n
/** Rationals are taken with this denominator (2^-20 resolution on scales and variances). */
const DEN = 2n ** 20n

/** Uniform on [0, n) for any positive bigint n, by rejection on 32-bit limbs. */
function uniformBig(n: bigint, rng: Rng): bigint {
  if (n <= 0n) throw new RangeError('uniformBig: n must be positive')
  if (n <= TWO32) return BigInt(rng.randomInt(Number(n)))
  let limbs = 0
  for (let m = n - 1n; m > 0n; m >>= 32n) limbs++
  const range = TWO32 ** BigInt(limbs)
  const limit = range - (range % n) // reject the top partial block: no modulo bias
  for (;;) {
    let x = 0n
    for (let i = 0; i < limbs; i++) x = x * TWO32 + BigInt(rng.randomInt(2 ** 32))
    if (x < limit) return x % n
  }
}

/** Bernoulli(num/den), 0 ≤ num ≤ den. */
function bernoulli(num: bigint, den: bigint, rng: Rng): boolean {
  return uniformBig(den, rng) < num
}

/** Bernoulli(exp(-num/den)) exactly (CKS Algorithm 1). */
function bernoulliExp(num: bigint, den: bigint, rng: Rng): boolean {
  if (num <= den) {
    let k = 1n
    while (bernoulli(num, den * k, rng)) k++
    return k % 2n === 1n
  }
  for (let i = 0n; i < num / den; i++) if (!bernoulliExp(1n, 1n, rng)) return false
  return bernoulliExp(num % den, den, rng)
}

/** Discrete Laplace with scale t/s: P(x) ∝ exp(-|x|·s/t) (CKS Algorithm 2). */
function discreteLaplaceRational(t: bigint, s: bigint, rng: Rng): bigint {
  for (;;) {
    const u = uniformBig(t, rng)
    if (!bernoulliExp(u, t, rng)) continue
    let v = 0n
    while (bernoulliExp(1n, 1n, rng)) v++
    const y = (u + t * v) / s
    const negative = rng.randomInt(2) === 1
    if (negative && y === 0n) continue // would count 0 twice
    return negative ? -y : y
  }
}

/** The largest Laplace scale the sampler draws (in its own units: grid steps for real sums). */
export const MAX_LAPLACE_SCALE = 1e12

function toRational(x: number, what: string): bigint {
  if (!Number.isFinite(x) || x <= 0 || x > MAX_LAPLACE_SCALE) throw new W3aError('INVALID_ARGUMENT', `${what} must be a positive number ≤ ${MAX_LAPLACE_SCALE}`)
  const num = BigInt(Math.round(x * Number(DEN)))
  if (num === 0n) throw new W3aError('INVALID_ARGUMENT', `${what} is below the sampler's 2^-20 resolution`)
  return num
}

/** One draw of the discrete Laplace distribution on ℤ, P(x) ∝ exp(-|x|/scale). */
export function sampleDiscreteLaplace(scale: number, rng: Rng = cryptoRng): number {
  return Number(discreteLaplaceRational(toRational(scale, 'Laplace scale'), DEN, rng))
}

/** One draw of the discrete Gaussian on ℤ, P(x) ∝ exp(-x²/(2·sigma2)) (CKS Algorithm 3). */
export function sampleDiscreteGaussian(sigma2: number, rng: Rng = cryptoRng): number {
  const a = toRational(sigma2, 'Gaussian variance') // σ² = a / DEN
  const b = DEN
  const t = BigInt(Math.floor(Math.sqrt(sigma2))) + 1n
  for (;;) {
    const y = discreteLaplaceRational(t, 1n, rng)
    const absY = y < 0n ? -y : y
    // γ = (|y| − σ²/t)² / (2σ²) = (|y|·b·t − a)² / (2·a·b·t²)
    const diff = absY * b * t - a
    if (bernoulliExp(diff * diff, 2n * a * b * t * t, rng)) return Number(y)
  }
}

/** Variance of the discrete Laplace distribution with this scale: 2e^{-1/b}/(1−e^{-1/b})². */
export function discreteLaplaceVariance(scale: number): number {
  const q = Math.exp(-1 / scale)
  return (2 * q) / (1 - q) ** 2
}
