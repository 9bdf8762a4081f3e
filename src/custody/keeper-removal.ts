/**
 * Keeper removal: the custody keeper set shrinks only by a removal entry every keeper applies the
 * same way, so quorum sizes (charge confirmations, refusal quorums, admissions) follow the live
 * set and a removed keeper's votes and confirmations stop counting. Posted in clear by anyone:
 *
 *   abi.encode(string "w3a.keeper-removal.v1", address keeper, uint64 admittedAt, bytes[] approvals)
 *
 * Each approval is a member enclave's EIP-191 signature over
 *
 *   keccak256(abi.encode(string "w3a.keeper-removal-approval.v1", uint256 chainId, address registry,
 *             address keeper, uint64 admittedAt))
 *
 * `admittedAt` (the inbox index of the membership being ended) makes an approval end one
 * membership only: it cannot remove the same enclave again after a later re-admission. The entry
 * applies only if the approvals recover to distinct members numbering a strict majority of the
 * set as it stands (the leaving keeper included: its own approval is a voluntary exit), so one
 * hostile keeper cannot remove honest ones. A member enclave approves (service.ts) only the
 * removal of itself, or of a keeper its own host reads as no longer an active keeper on chain
 * (exited, slashed, not eligible): a majority of hosts must read it so. The last member is never
 * removed (a network with no keeper could not confirm anything).
 */
import { decodeAbiParameters, encodeAbiParameters, keccak256, recoverMessageAddress, type Address, type Hex } from 'viem'
import { countMembers, keeperQuorum } from './keeper-set.js'
import type { RefusalReason } from './receipt.js'
import type { CustodyState } from './state.js'

export const KEEPER_REMOVAL_TAG = 'w3a.keeper-removal.v1'
const MAX_APPROVALS = 64
const ABI = [{ type: 'string' }, { type: 'address' }, { type: 'uint64' }, { type: 'bytes[]' }] as const

export type KeeperRemoval = { keeper: Address; admittedAt: bigint; approvals: Hex[] }
export type RemovalDomain = { chainId: number; registry: Address }
/** A removal after the stateless checks: who signed it (recovered). */
export type CheckedRemoval = { removal: KeeperRemoval; signers: Address[] }

export function keeperRemovalDigest(p: RemovalDomain & { keeper: Address; admittedAt: bigint }): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'string' }, { type: 'uint256' }, { type: 'address' }, { type: 'address' }, { type: 'uint64' }],
      ['w3a.keeper-removal-approval.v1', BigInt(p.chainId), p.registry, p.keeper, p.admittedAt],
    ),
  )
}

export function encodeKeeperRemoval(r: KeeperRemoval): Uint8Array {
  const hex = encodeAbiParameters(ABI, [KEEPER_REMOVAL_TAG, r.keeper, r.admittedAt, r.approvals])
  return Uint8Array.from(Buffer.from(hex.slice(2), 'hex'))
}

/** Undefined if `payload` is not a removal (wrong tag, bad encoding). */
export function decodeKeeperRemoval(payload: Uint8Array): KeeperRemoval | undefined {
  try {
    const [tag, keeper, admittedAt, approvals] = decodeAbiParameters(ABI, payload)
    if (tag !== KEEPER_REMOVAL_TAG) return undefined
    return { keeper: keeper.toLowerCase() as Address, admittedAt, approvals: [...approvals] }
  } catch {
    return undefined
  }
}

/** The stateless half: shape and signature recovery. */
export async function prepareKeeperRemoval(payload: Uint8Array, domain: RemovalDomain): Promise<({ ok: true } & CheckedRemoval) | { ok: false; reason: RefusalReason } | undefined> {
  const removal = decodeKeeperRemoval(payload)
  if (!removal) return undefined
  if (removal.approvals.length > MAX_APPROVALS) return { ok: false, reason: 'malformed' }
  const digest = keeperRemovalDigest({ ...domain, keeper: removal.keeper, admittedAt: removal.admittedAt })
  const signers: Address[] = []
  for (const signature of removal.approvals) {
    try {
      signers.push((await recoverMessageAddress({ message: { raw: digest }, signature })).toLowerCase() as Address)
    } catch {
      return { ok: false, reason: 'bad-signature' }
    }
  }
  return { ok: true, removal, signers }
}

/** The stateful half: the membership named is current, a strict majority of the set approved, and it is not the last member. */
export function applyKeeperRemoval(state: CustodyState, p: CheckedRemoval): { state: CustodyState; reason?: RefusalReason } {
  const record = state.keepers.get(p.removal.keeper)
  if (!record || record.admittedAt !== p.removal.admittedAt) return { state, reason: 'not-keeper' }
  if (state.keepers.size <= 1) return { state, reason: 'last-keeper' }
  if (countMembers(state, p.signers) < keeperQuorum(state)) return { state, reason: 'quorum-not-reached' }
  return { state: { ...state, keepers: state.keepers.delete(p.removal.keeper) } }
}
