import { encodeAbiParameters, keccak256, type Address, type Hex } from 'viem'
import { datasetIdFor } from '../../../chain/portable.js'

/**
 * The n-th contribution of `contributor` to `pool`: salt = keccak256(abi.encode("w3a.contribution",
 * pool, n)), id = datasetIdFor(contributor, salt). Derived, not random, so a contributor finds its
 * contributions again from its address alone (listMyContributions), on any device; only its
 * own account can register them (the id binds the sender).
 */
export function contributionSalt(pool: Hex, n: number): Hex {
  return keccak256(encodeAbiParameters([{ type: 'string' }, { type: 'bytes32' }, { type: 'uint256' }], ['w3a.contribution', pool, BigInt(n)]))
}

export function contributionId(contributor: Address, pool: Hex, n: number): Hex {
  return datasetIdFor(contributor, contributionSalt(pool, n))
}
