import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { keyedRng } from '../keyed-rng.js'
import { parseOutputSpec } from './output-type.js'
import { gateUnitValues, type UnitGateParameters } from './unit-gate.js'

const seed = new Uint8Array(32).fill(7)
const noise = (label: string) => keyedRng(seed, label)
const base = { k: 5, delta: 1e-7, maxGroupsPerUnit: 1, noise }

function gate(p: Omit<UnitGateParameters, 'k' | 'delta' | 'maxGroupsPerUnit'> & Partial<UnitGateParameters>) {
  return gateUnitValues({ ...base, ...p })
}

describe('unit gate', () => {
  it('noise scale comes from the declared bounds and ε (2 quantities: units and the sum)', () => {
    const output = parseOutputSpec('number:0:100')
    const r = gate({ output, aggregate: 'sum', epsilon: 1, groups: [{ key: null, values: Array(200).fill(50) }] })
    // ε/2 per quantity; sum: Δ = 100 on a grid of 0.1 (+1 step for rounding) → (1000 + 1) steps / 0.5 × 0.1.
    assert.ok(Math.abs(r.noiseScale['sum']! - 200.2) < 1e-9, String(r.noiseScale['sum']))
    assert.equal(r.noiseScale['units'], 2)
    const wider = gate({ output: parseOutputSpec('number:-1000:10'), aggregate: 'sum', epsilon: 1, groups: [{ key: null, values: [1] }] })
    assert.ok(Math.abs(wider.noiseScale['sum']! - 2002) < 1e-9, 'the larger of |lo|, |hi| is the sensitivity')
    const vector = gate({ output: parseOutputSpec('vector:3:0:1'), aggregate: 'sum', epsilon: 1, groups: [{ key: null, values: [[1, 1, 1]] }] })
    assert.ok(Math.abs(vector.noiseScale['sum_1']! - (1000 + 3) / 0.5 * 0.003) < 1e-9, 'a vector sum: L1 sensitivity N·max(|lo|,|hi|)')
    assert.equal(r.mechanism, 'discrete-laplace')
    assert.equal(r.epsilonSpent, 1)
  })

  it('the noisy sum is near the truth for a large ε, never a single unit\'s value', () => {
    const output = parseOutputSpec('number:0:100')
    const values = Array.from({ length: 300 }, (_, i) => i % 101)
    const truth = values.reduce((a, b) => a + b, 0)
    const r = gate({ output, aggregate: 'sum', epsilon: 10, groups: [{ key: null, values }] })
    assert.deepEqual(r.columns.map((c) => c.name), ['sum', 'units'])
    const [sum, units] = r.rows[0] as [number, bigint]
    assert.ok(Math.abs(sum - truth) < 20 * 20, `${sum} vs ${truth}`)
    assert.ok(Math.abs(Number(units) - 300) < 20)
    const mean = gate({ output, aggregate: 'mean', epsilon: 10, groups: [{ key: null, values }] })
    assert.ok(Math.abs((mean.rows[0]![0] as number) - truth / 300) < 3)
  })

  it('same seed, same answer: a job re-run draws the same noise', () => {
    const p = { output: parseOutputSpec('number:0:1'), aggregate: 'sum' as const, epsilon: 0.5, groups: [{ key: null, values: [1, 0, 1] }] }
    assert.deepEqual(gate(p).rows, gate(p).rows)
  })

  it('a histogram counts each unit once, in its category; ungrouped, every declared category is released', () => {
    const output = parseOutputSpec('category:male,female,other')
    const values = [...Array(120).fill(0), ...Array(80).fill(1), ...Array(30).fill(-1)]
    const r = gate({ output, aggregate: 'histogram', epsilon: 4, groups: [{ key: null, values }] })
    assert.deepEqual(r.columns.map((c) => c.name), ['category', 'units'])
    assert.deepEqual(r.rows.map((x) => x[0]), ['male', 'female', 'other'])
    const counts = r.rows.map((x) => Number(x[1]))
    assert.ok(Math.abs(counts[0]! - 120) < 10 && Math.abs(counts[1]! - 80) < 10 && counts[2]! < 10, String(counts))
    assert.equal(r.noiseScale['units'], 0.25, 'ungrouped: one quantity (L1 sensitivity 1) at the whole ε')
  })

  it('k rule: a group with fewer than k units is never released, whatever ε', () => {
    const output = parseOutputSpec('number:0:10')
    const groups = [
      { key: 'north', values: Array(400).fill(5) },
      { key: 'tiny', values: Array(4).fill(5) },
    ]
    const r = gate({ output, aggregate: 'sum', epsilon: 50, groupBy: { name: 'region', type: 'VARCHAR' }, groups })
    assert.deepEqual(r.rows.map((x) => x[0]), ['north'])
    assert.equal(r.suppressed, null, 'no count of the groups dropped')
    assert.equal(r.delta, 1e-7)
    const hist = gate({ output: parseOutputSpec('category:a,b'), aggregate: 'histogram', epsilon: 50, groupBy: { name: 'region', type: 'VARCHAR' }, groups: [{ key: 'tiny', values: [0, 0, 1, 1] }] })
    assert.deepEqual(hist.rows, [])
  })

  it('refuses ε = 0 and an aggregate the type does not have', () => {
    assert.throws(() => gate({ output: parseOutputSpec('number:0:1'), aggregate: 'sum', epsilon: 0, groups: [{ key: null, values: [1] }] }), /ε > 0/)
    assert.throws(() => gate({ output: parseOutputSpec('number:0:1'), aggregate: 'histogram', epsilon: 1, groups: [{ key: null, values: [1] }] }), /does not apply/)
  })
})
