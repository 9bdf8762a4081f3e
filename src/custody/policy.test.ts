import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isW3aError } from '../core/errors.js'
import { DEFAULT_POLICY, analysisDenial, canonicalPolicyJson, checkPolicyColumns, parsePolicy, policyHash } from './policy.js'

const A = '0x1111111111111111111111111111111111111111'
const B = '0xAbCdEf0000000000000000000000000000000002'

describe('custody policy', () => {
  it('defaults', () => {
    // Safe by default: DP only, a small budget, a share per analyst, δ and minimum ε set here.
    assert.deepEqual(
      { ...DEFAULT_POLICY },
      {
        k: 10, epsilonBudget: 3, analystEpsilonBudget: 1, defaultEpsilon: 0.1, minEpsilon: 0.05, delta: 1e-7, bounds: {}, allowExact: false, exactQueries: 10,
        quantileRange: [0.25, 0.75], analyses: ['sql'], buyerAllow: [], buyerDeny: [], allowedAlgorithms: [], allowMinMax: false, openAccess: false,
      },
    )
    assert.ok(Object.isFrozen(DEFAULT_POLICY) && Object.isFrozen(DEFAULT_POLICY.analyses))
    assert.equal(policyHash({}), policyHash(DEFAULT_POLICY))
  })

  it('the hash is over a canonical form: order, case and duplicates do not matter', () => {
    const p1 = { k: 5, buyerAllow: [B, A], analyses: ['function', 'sql'] as ('sql' | 'function')[], columns: { identifiers: ['id'], dimensions: ['b', 'a'], measures: [] } }
    const p2 = { columns: { measures: [], dimensions: ['a', 'b', 'a'], identifiers: ['id'] }, analyses: ['sql', 'function'] as ('sql' | 'function')[], buyerAllow: [A.toUpperCase().replace('0X', '0x'), B.toLowerCase()], k: 5 }
    assert.equal(policyHash(p1), policyHash(p2))
    assert.equal(canonicalPolicyJson(p1), canonicalPolicyJson(p2))
    assert.match(canonicalPolicyJson(p1), /^\{"allowExact":false,"allowMinMax":false,"allowedAlgorithms":\[\],"analyses":\["function","sql"\],"analystEpsilonBudget":1,"bounds":\{\},"buyerAllow":\["0x1111/)
  })

  it('every field changes the hash', () => {
    const base = policyHash({})
    const variants = [
      { k: 11 },
      { epsilonBudget: 10.5 },
      { analyses: ['function' as const] },
      { analyses: [] },
      { buyerAllow: [A] },
      { buyerDeny: [A] },
      { allowedAlgorithms: [`0x${'ab'.repeat(32)}`] },
      { columns: { identifiers: [], dimensions: [], measures: [] } },
      { columns: { identifiers: [], dimensions: [], measures: ['x'] }, bounds: { x: [0, 1] as [number, number] } },
      { columns: { identifiers: [], dimensions: [], measures: ['x'] }, bounds: { x: [0, 2] as [number, number] } },
      { allowMinMax: true },
      { allowExact: true },
      { exactQueries: 3 },
      { defaultEpsilon: 0.2 },
      { minEpsilon: 0.1 },
      { delta: 1e-8 },
      { analystEpsilonBudget: 2 },
      { quantileRange: [0.2, 0.8] as [number, number] },
    ]
    const hashes = variants.map((v) => policyHash(v))
    for (const h of hashes) assert.notEqual(h, base)
    assert.equal(new Set(hashes).size, hashes.length)
  })

  it('refuses invalid policies with INVALID_ARGUMENT', () => {
    for (const bad of [{ k: 1 }, { k: 2.5 }, { epsilonBudget: 0 }, { epsilonBudget: -1 }, { epsilonBudget: Infinity }, { analyses: ['python'] }, { buyerAllow: ['0x12'] }, { allowedAlgorithms: ['0x1234'] }, { extra: true }, { columns: { identifiers: [] } }, { buyerDeny: Array.from({ length: 257 }, () => A) }, { delta: 0.1 }, { delta: 0 }, { minEpsilon: 0 }]) {
      assert.throws(() => parsePolicy(bad), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'), JSON.stringify(bad))
    }
  })

  it('refuses unsafe or contradictory policies with POLICY_INVALID, naming the problem', () => {
    const cols = (measures: string[]) => ({ columns: { identifiers: [], dimensions: ['city'], measures } })
    const cases: [object, RegExp][] = [
      [cols(['amount']), /amount has no bounds/],
      [{ ...cols(['amount']), bounds: { amount: [5, 1] } }, /lower must be ≤ upper/],
      [{ ...cols([]), bounds: { city: [0, 1] } }, /bounds.city: not a declared measure/],
      [{ defaultEpsilon: 0.01 }, /below minEpsilon/],
      [{ minEpsilon: 2, defaultEpsilon: 2 }, /more than an analyst may spend/],
      [{ delta: 1e-5, epsilonBudget: 100, analystEpsilonBudget: 100 }, /exceeds/],
      [{ quantileRange: [0, 1] }, /quantileRange/],
    ]
    for (const [bad, re] of cases) {
      assert.throws(() => parsePolicy(bad), (e: unknown) => isW3aError(e, 'POLICY_INVALID') && re.test(e.message), JSON.stringify(bad))
    }
    // A measure without bounds is fine where only exact answers can use it.
    assert.equal(parsePolicy({ ...cols(['amount']), allowExact: true }).allowExact, true)
  })

  it('a policy naming columns the dataset lacks is refused with the dataset columns', () => {
    const p = parsePolicy({ columns: { identifiers: [], dimensions: ['cty'], measures: ['amount'] }, bounds: { amount: [0, 10] } })
    assert.throws(() => checkPolicyColumns(p, ['uid', 'city', 'amount']), (e: unknown) => isW3aError(e, 'POLICY_INVALID') && /cty/.test(e.message) && e.details.some((d) => /uid, city, amount/.test(d)))
    checkPolicyColumns(p, ['uid', 'CTY', 'Amount'])
  })

  it('functions by hash: an allow-list and a deny-list, absent from the canonical form when empty', () => {
    const a = `0x${'aa'.repeat(32)}` as const
    const b = `0x${'bb'.repeat(32)}` as const
    assert.equal(policyHash({ functionAllow: [], functionDeny: [] }), policyHash({}), 'empty lists hash like a policy without them')
    assert.doesNotMatch(canonicalPolicyJson({}), /function/)
    assert.equal(policyHash({ functionAllow: [a.toUpperCase().replace('0X', '0x'), b] }), policyHash({ functionAllow: [b, a] }))
    const fn = (h: `0x${string}`) => ({ kind: 'function' as const, functionHash: h })
    assert.equal(analysisDenial(DEFAULT_POLICY, fn(a)), 'analysis-not-allowed', 'functions are off by default')
    assert.equal(analysisDenial(DEFAULT_POLICY, { kind: 'sql' }), undefined)
    assert.equal(analysisDenial(parsePolicy({ analyses: ['function'] }), { kind: 'sql' }), 'analysis-not-allowed')
    assert.equal(analysisDenial(parsePolicy({ analyses: ['function'] }), fn(a)), undefined, 'no lists: any function')
    assert.equal(analysisDenial(parsePolicy({ analyses: ['function'], functionDeny: [a] }), fn(a)), 'function-not-allowed')
    assert.equal(analysisDenial(parsePolicy({ analyses: ['function'], functionAllow: [b] }), fn(a)), 'function-not-allowed')
    assert.equal(analysisDenial(parsePolicy({ analyses: ['function'], functionAllow: [a, b], functionDeny: [b] }), fn(b)), 'function-not-allowed', 'deny wins')
    assert.equal(analysisDenial(parsePolicy({ analyses: ['function'], functionAllow: [a] }), fn(a.toUpperCase().replace('0X', '0x') as `0x${string}`)), undefined)
  })
})
