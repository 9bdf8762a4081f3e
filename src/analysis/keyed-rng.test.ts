import assert from 'node:assert/strict'
import { test } from 'node:test'
import { keyedRng } from './keyed-rng.js'

const seed = new Uint8Array(32).fill(7)
const draws = (label: string, n: number, bound = 1000) => {
  const rng = keyedRng(seed, label)
  return Array.from({ length: n }, () => rng.randomInt(bound))
}

test('keyed rng: one seed and label give one sequence; another label or seed another', () => {
  assert.deepEqual(draws('a', 50), draws('a', 50))
  assert.notDeepEqual(draws('a', 50), draws('b', 50))
  const other = keyedRng(new Uint8Array(32).fill(8), 'a')
  assert.notDeepEqual(Array.from({ length: 50 }, () => other.randomInt(1000)), draws('a', 50))
})

test('keyed rng: uniform on [0, n) (chi-square over 10 bins) and the full 2^32 range works', () => {
  const xs = draws('uniform', 100_000, 10)
  const counts = Array.from({ length: 10 }, (_, i) => xs.filter((x) => x === i).length)
  const chi2 = counts.reduce((s, c) => s + (c - 10_000) ** 2 / 10_000, 0)
  assert.ok(chi2 < 27.9, `chi-square ${chi2} over 9 degrees of freedom (p < 0.001 would be 27.9)`)
  const big = keyedRng(seed, 'big')
  for (let i = 0; i < 100; i++) {
    const x = big.randomInt(2 ** 32)
    assert.ok(Number.isInteger(x) && x >= 0 && x < 2 ** 32)
  }
})

test('keyed rng: a short seed or a bad bound is refused', () => {
  assert.throws(() => keyedRng(new Uint8Array(16), 'a'), /32 bytes/)
  assert.throws(() => keyedRng(seed, 'a').randomInt(0), /bound/)
  assert.throws(() => keyedRng(seed, 'a').randomInt(2 ** 32 + 1), /bound/)
})
