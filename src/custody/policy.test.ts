import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isW3aError } from '../core/errors.js'
import { DEFAULT_POLICY, canonicalPolicyJson, parsePolicy, policyHash } from './policy.js'

const A = '0x1111111111111111111111111111111111111111'
const B = '0xAbCdEf0000000000000000000000000000000002'

describe('custody policy', () => {
  it('defaults', () => {
    assert.deepEqual({ ...DEFAULT_POLICY }, { k: 10, epsilonBudget: 10, analyses: ['sql'], buyerAllow: [], buyerDeny: [], allowedAlgorithms: [], allowMinMax: false, openAccess: false })
    assert.ok(Object.isFrozen(DEFAULT_POLICY) && Object.isFrozen(DEFAULT_POLICY.analyses))
    assert.equal(policyHash({}), policyHash(DEFAULT_POLICY))
  })

  it('the hash is over a canonical form: order, case and duplicates do not matter', () => {
    const p1 = { k: 5, buyerAllow: [B, A], analyses: ['function', 'sql'] as ('sql' | 'function')[], columns: { identifiers: ['id'], dimensions: ['b', 'a'], measures: [] } }
    const p2 = { columns: { measures: [], dimensions: ['a', 'b', 'a'], identifiers: ['id'] }, analyses: ['sql', 'function'] as ('sql' | 'function')[], buyerAllow: [A.toUpperCase().replace('0X', '0x'), B.toLowerCase()], k: 5 }
    assert.equal(policyHash(p1), policyHash(p2))
    assert.equal(canonicalPolicyJson(p1), canonicalPolicyJson(p2))
    assert.match(canonicalPolicyJson(p1), /^\{"allowMinMax":false,"allowedAlgorithms":\[\],"analyses":\["function","sql"\],"buyerAllow":\["0x1111/)
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
      { columns: { identifiers: [], dimensions: [], measures: ['x'] } },
      { allowMinMax: true },
    ]
    const hashes = variants.map((v) => policyHash(v))
    for (const h of hashes) assert.notEqual(h, base)
    assert.equal(new Set(hashes).size, hashes.length)
  })

  it('refuses invalid policies with INVALID_ARGUMENT', () => {
    for (const bad of [{ k: 1 }, { k: 2.5 }, { epsilonBudget: 0 }, { epsilonBudget: -1 }, { epsilonBudget: Infinity }, { analyses: ['python'] }, { buyerAllow: ['0x12'] }, { allowedAlgorithms: ['0x1234'] }, { extra: true }, { columns: { identifiers: [] } }, { buyerDeny: Array.from({ length: 257 }, () => A) }]) {
      assert.throws(() => parsePolicy(bad), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'), JSON.stringify(bad))
    }
  })
})
