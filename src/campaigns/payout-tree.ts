/**
 * The Merkle tree of a campaign's counted payout addresses, as OpenZeppelin's MerkleProof checks
 * it (contracts/Campaigns.sol `claim`): leaf = keccak256(keccak256(abi.encode(campaignId,
 * account))) (double-hashed, so no inner node is a leaf), pairs hashed in sorted order. The
 * aggregator's enclave computes the root it signs; a respondent's SDK computes their proof from
 * the published list and checks it against the root on chain.
 *
 * Leaves are sorted, so the list's order carries nothing about when anyone answered.
 */
import { keccak_256 } from '@noble/hashes/sha3.js'
import { bytesToHex, hexToBytes, numberToBytes, type Address, type Hex } from 'viem'
import { W3aError } from '../core/errors.js'

export const EMPTY_ROOT: Hex = `0x${'00'.repeat(32)}`

// Bytes throughout (a campaign may have a million leaves): keccak over Uint8Arrays, nodes kept as
// lowercase hex of fixed length so that string order is numeric order.

function leafHex(campaignId: bigint, account: Address): string {
  const word = new Uint8Array(64)
  word.set(numberToBytes(campaignId, { size: 32 }), 0)
  word.set(hexToBytes(account), 44)
  return bytesToHex(keccak_256(keccak_256(word)))
}

/** keccak256(keccak256(abi.encode(campaignId, account))): the leaf the contract checks. */
export function payoutLeaf(campaignId: bigint, account: Address): Hex {
  return leafHex(campaignId, account) as Hex
}

function hashPair(a: string, b: string): string {
  const [x, y] = a <= b ? [a, b] : [b, a]
  const buf = new Uint8Array(64)
  buf.set(hexToBytes(x as Hex), 0)
  buf.set(hexToBytes(y as Hex), 32)
  return bytesToHex(keccak_256(buf))
}

/** The tree's levels, leaves (sorted) first; an odd node is carried up as is. */
function levels(leaves: string[]): string[][] {
  const out: string[][] = [[...leaves].sort()]
  while (out[out.length - 1]!.length > 1) {
    const level = out[out.length - 1]!
    const next: string[] = []
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? hashPair(level[i]!, level[i + 1]!) : level[i]!)
    out.push(next)
  }
  return out
}

/** The root over `accounts` (EMPTY_ROOT for none). Duplicates are refused: each address is paid once. */
export function payoutRoot(campaignId: bigint, accounts: readonly Address[]): Hex {
  if (accounts.length === 0) return EMPTY_ROOT
  const leaves = uniqueLeaves(campaignId, accounts)
  const all = levels(leaves)
  return all[all.length - 1]![0]! as Hex
}

/** The proof that `account` is in the tree over `accounts`; CAMPAIGN_NOT_COUNTED when it is not. */
export function payoutProof(campaignId: bigint, accounts: readonly Address[], account: Address): Hex[] {
  const leaves = uniqueLeaves(campaignId, accounts)
  const all = levels(leaves)
  let index = all[0]!.indexOf(leafHex(campaignId, account))
  if (index < 0) throw new W3aError('CAMPAIGN_NOT_COUNTED', `${account} is not among the counted respondents of campaign ${campaignId}`)
  const proof: Hex[] = []
  for (const level of all.slice(0, -1)) {
    const sibling = index ^ 1
    if (sibling < level.length) proof.push(level[sibling]! as Hex)
    index >>= 1
  }
  return proof
}

/** What MerkleProof.verify does: for tests and clients checking a proof before sending it. */
export function verifyPayoutProof(root: Hex, leaf: Hex, proof: readonly Hex[]): boolean {
  return proof.reduce<string>((h, p) => hashPair(h, p.toLowerCase()), leaf.toLowerCase()) === root.toLowerCase()
}

function uniqueLeaves(campaignId: bigint, accounts: readonly Address[]): string[] {
  const leaves = accounts.map((a) => leafHex(campaignId, a))
  if (new Set(leaves).size !== leaves.length) throw new W3aError('INVALID_ARGUMENT', 'payout addresses must be distinct')
  return leaves
}
