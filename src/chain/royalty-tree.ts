/**
 * The tree of a pool job's contributor weights (Jobs.submitPoolResult / claimRoyalties): the
 * worker builds it from the weights it computed, signs its root; a contributor proves its leaf.
 *
 *   leaf = keccak256(keccak256(abi.encode(address contributor, uint256 weight)))
 *   node = keccak256(min(a, b) ‖ max(a, b))         (OpenZeppelin MerkleProof: sorted pairs)
 *
 * Leaves are sorted by hash; each level pairs neighbours and carries an odd last node up as it
 * is. One leaf: the root is the leaf, the proof empty. Weights are positive integers; a
 * contributor appears once.
 */
import { concatBytes, encodeAbiParameters, hexToBytes, keccak256, type Address, type Hex } from 'viem'
import { W3aError } from '../core/errors.js'

export type ContributorWeight = { contributor: Address; weight: bigint }

export const EMPTY_WEIGHTS_ROOT: Hex = `0x${'00'.repeat(32)}`

export function royaltyLeaf(w: ContributorWeight): Hex {
  return keccak256(keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [w.contributor, w.weight])))
}

function hashPair(a: Hex, b: Hex): Hex {
  return a.toLowerCase() < b.toLowerCase() ? keccak256(concatBytes([hexToBytes(a), hexToBytes(b)])) : keccak256(concatBytes([hexToBytes(b), hexToBytes(a)]))
}

function checkWeights(weights: readonly ContributorWeight[]): void {
  const seen = new Set<string>()
  for (const w of weights) {
    if (typeof w.weight !== 'bigint' || w.weight <= 0n) throw new W3aError('INVALID_ARGUMENT', `royalty weight of ${w.contributor} must be a positive integer`)
    const who = w.contributor.toLowerCase()
    if (seen.has(who)) throw new W3aError('INVALID_ARGUMENT', `contributor ${w.contributor} appears twice in the royalty weights`)
    seen.add(who)
  }
}

function levels(weights: readonly ContributorWeight[]): Hex[][] {
  checkWeights(weights)
  let level = weights.map(royaltyLeaf).sort()
  const out = [level]
  while (level.length > 1) {
    const next: Hex[] = []
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? hashPair(level[i]!, level[i + 1]!) : level[i]!)
    out.push(next)
    level = next
  }
  return out
}

/** The root and the total weight (zero root and total for no contributor). */
export function royaltyRoot(weights: readonly ContributorWeight[]): { root: Hex; totalWeight: bigint } {
  if (weights.length === 0) return { root: EMPTY_WEIGHTS_ROOT, totalWeight: 0n }
  const all = levels(weights)
  return { root: all.at(-1)![0]!, totalWeight: weights.reduce((s, w) => s + w.weight, 0n) }
}

/** The proof of `contributor`'s leaf, or undefined if it has no weight in the list. */
export function royaltyProof(weights: readonly ContributorWeight[], contributor: Address): { weight: bigint; proof: Hex[] } | undefined {
  const mine = weights.find((w) => w.contributor.toLowerCase() === contributor.toLowerCase())
  if (!mine) return undefined
  const all = levels(weights)
  let index = all[0]!.indexOf(royaltyLeaf(mine))
  const proof: Hex[] = []
  for (const level of all.slice(0, -1)) {
    const sibling = index % 2 === 0 ? index + 1 : index - 1
    if (sibling < level.length) proof.push(level[sibling]!)
    index = Math.floor(index / 2)
  }
  return { weight: mine.weight, proof }
}

/** Checks a proof the way MerkleProof.verify does (for clients, before sending a claim). */
export function verifyRoyaltyProof(root: Hex, leaf: ContributorWeight, proof: readonly Hex[]): boolean {
  return proof.reduce<Hex>((h, p) => hashPair(h, p), royaltyLeaf(leaf)).toLowerCase() === root.toLowerCase()
}

