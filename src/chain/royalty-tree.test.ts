import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Address } from 'viem'
import { royaltyProof, royaltyRoot, verifyRoyaltyProof } from './royalty-tree.js'

const addr = (i: number) => `0x${(i + 1).toString(16).padStart(40, '0')}` as Address

describe('royalty tree (the leaves and pairs of OpenZeppelin MerkleProof; the contract check is test/pool.test.ts)', () => {
  it('every contributor proves its own weight under the root, for any number of leaves; another weight or account does not', () => {
    for (let n = 1; n <= 9; n++) {
      const weights = Array.from({ length: n }, (_, i) => ({ contributor: addr(i), weight: BigInt(i + 1) }))
      const { root, totalWeight } = royaltyRoot(weights)
      assert.equal(totalWeight, BigInt((n * (n + 1)) / 2))
      for (const w of weights) {
        const p = royaltyProof(weights, w.contributor)!
        assert.equal(p.weight, w.weight)
        assert.equal(verifyRoyaltyProof(root, w, p.proof), true)
        assert.equal(verifyRoyaltyProof(root, { ...w, weight: w.weight + 1n }, p.proof), false)
        if (n > 1) assert.equal(verifyRoyaltyProof(root, { contributor: addr(99), weight: w.weight }, p.proof), false)
      }
      assert.equal(royaltyProof(weights, addr(99)), undefined)
    }
  })

  it('the root does not depend on the order of the list; duplicates and zero weights are refused', () => {
    const weights = [0, 1, 2, 3, 4].map((i) => ({ contributor: addr(i), weight: 1n }))
    assert.equal(royaltyRoot(weights).root, royaltyRoot([...weights].reverse()).root)
    assert.throws(() => royaltyRoot([...weights, weights[0]!]), /appears twice/)
    assert.throws(() => royaltyRoot([{ contributor: addr(0), weight: 0n }]), /positive integer/)
    assert.deepEqual(royaltyRoot([]), { root: `0x${'00'.repeat(32)}`, totalWeight: 0n })
  })
})
