/**
 * Charge confirmations: a job's charge, as one keeper applied it, confirmed by other keepers from
 * their OWN custody state. A keeper's inbox is its host's chain read (no light client for the
 * devnet chain), so a hostile host can feed its enclave a forked inbox with a job nobody paid for
 * or without a dataset's Delete. A release therefore needs a strict majority of the keeper set
 * (keeper-set.ts; the releasing keeper counts as one) to have applied the same charge, each
 * from its own host's reads:
 *
 *   digest    = keccak256(abi.encode(string "w3a.charge-confirmation.v3", uint256 chainId, address jobs,
 *                 uint256 jobId, address worker, bytes32 jobLeaf, bytes32 dekHash, bool deleted, uint64 epoch,
 *                 bytes32 challenge))
 *   signature = EIP-191 personal_sign by the keeper's worker key over the 32 digest bytes
 *
 * `jobLeaf` is the charge's state-root leaf (state-root.ts: analyst, dataset, hashes, ε, inbox
 * index, status), `dekHash`/`deleted` the dataset's as that keeper holds it. A keeper signs only
 * for a job charged in its state whose dataset is live, so `deleted` is always false in a signed
 * confirmation; it is in the digest so the statement says so. `worker` is the job's assigned worker
 * as the confirming keeper's OWN host reads the Jobs contract, which must also show the job open:
 * so the job's status and assignment, not only its charge, need a majority of hosts to agree, and
 * a releasing host cannot send the key to another attested worker than the chain's. `epoch` is
 * the keeper's current epoch (its keyring's, moved by its host's block numbers): the release uses
 * that epoch's analysis key and noise seed, and which grants and budgets were live came from the
 * entries' block timestamps, so a keeper whose host shifted epochs signs another digest and is
 * outvoted (the timestamps' effects are in `jobLeaf`, the charge's status).
 * `challenge` is a fresh random value
 * the releasing enclave made for this release and keeps for one use: a confirmation collected
 * earlier (before a Delete the releasing host then withholds from its enclave) does not count.
 */
import { bytesToHex, concat, encodeAbiParameters, keccak256, recoverMessageAddress, type Address, type Hex, type LocalAccount } from 'viem'
import { W3aError } from '../core/errors.js'
import { jobChargeKey } from './job-charge.js'
import { countMembers, isKeeper, keeperQuorum } from './keeper-set.js'
import { getDataset, type CustodyState } from './state.js'
import { liveInputs } from './pool.js'
import { jobLeaf } from './state-root.js'

export type ChargeDomain = { chainId: number; jobs: Address; /** the confirming or releasing keeper's current epoch */ epoch: bigint }
export type ChargeConfirmation = { keeper: Address; signature: Hex }
/** Why a keeper does not confirm: it has no such charge, refused it, or the dataset is gone. */
export type ConfirmRefusal = 'not-charged' | 'charge-refused' | 'dataset-deleted' | 'job-not-open'
/** The job's status and worker as the confirming keeper's host reads the Jobs contract. */
export type JobAssignment = { worker: Address; open: boolean }

/** A fresh challenge for one release (32 random bytes). */
export function newChargeChallenge(): Hex {
  return bytesToHex(crypto.getRandomValues(new Uint8Array(32)))
}

const MAX_CONFIRMATIONS = 64

export function chargeConfirmationDigest(p: ChargeDomain & { jobId: bigint; worker: Address; jobLeaf: Hex; dekHash: Hex; deleted: boolean; epoch: bigint; challenge: Hex }): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'string' }, { type: 'uint256' }, { type: 'address' }, { type: 'uint256' }, { type: 'address' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'bool' }, { type: 'uint64' }, { type: 'bytes32' }],
      ['w3a.charge-confirmation.v3', BigInt(p.chainId), p.jobs, p.jobId, p.worker, p.jobLeaf, p.dekHash, p.deleted, p.epoch, p.challenge],
    ),
  )
}

/** The digest this state would confirm for the job released to `worker`, or why it would not. */
export function chargeDigestOf(state: CustodyState, domain: ChargeDomain, jobId: bigint, worker: Address, challenge: Hex): { ok: true; digest: Hex } | { ok: false; reason: ConfirmRefusal } {
  const key = jobChargeKey(jobId)
  const charge = state.jobCharges.get(key)
  if (!charge) return { ok: false, reason: 'not-charged' }
  if (charge.status !== 'charged') return { ok: false, reason: 'charge-refused' }
  const d = getDataset(state, charge.datasetId)
  const keys = d?.pool ? poolKeysHash(state, charge.inputs ?? []) : d?.dekHash
  if (!d || d.deleted || !keys) return { ok: false, reason: 'dataset-deleted' }
  return { ok: true, digest: chargeConfirmationDigest({ ...domain, jobId, worker, jobLeaf: bytesToHex(jobLeaf(key, charge)), dekHash: keys, deleted: false, epoch: domain.epoch, challenge }) }
}

/**
 * A pool job's `dekHash` in the digest: keccak256 over its charged contributions still live, as
 * (bytes32 id ‖ bytes32 dekHash) ascending; null when none is. So a majority must agree on which
 * keys go out (a Delete after the charge that one host withheld changes it).
 */
export function poolKeysHash(state: CustodyState, inputs: readonly Hex[]): Hex | null {
  const live = liveInputs(state, inputs)
  if (live.length === 0) return null
  const hash = keccak256(concat(live.map((c) => concat([c.datasetId, c.dekHash]))))
  for (const c of live) c.dek.fill(0)
  return hash
}

/** Confirming keeper: signs only what its own state holds, for the job open and assigned as its own host reads it. */
export async function confirmCharge(state: CustodyState, domain: ChargeDomain, jobId: bigint, challenge: Hex, signer: LocalAccount, assignment: JobAssignment): Promise<({ ok: true } & ChargeConfirmation) | { ok: false; reason: ConfirmRefusal }> {
  if (!assignment.open) return { ok: false, reason: 'job-not-open' }
  const of = chargeDigestOf(state, domain, jobId, assignment.worker, challenge)
  if (!of.ok) return of
  return { ok: true, keeper: signer.address, signature: await signer.signMessage({ message: { raw: of.digest } }) }
}

/**
 * Releasing keeper: do `self` (if a member) and the confirmations that recover to distinct other
 * members, all over `digest` (computed from this keeper's own state), make a strict majority of
 * its keeper set? Anything that is not a member's signature over this digest counts for nothing.
 * `confirmations` comes from the host: its shape is checked here (INVALID_ARGUMENT).
 */
export async function chargeQuorum(state: CustodyState, p: { digest: Hex; self: Address; confirmations: unknown }): Promise<{ ok: boolean; have: number; need: number }> {
  const list = parseConfirmations(p.confirmations)
  const signers: string[] = isKeeper(state, p.self) ? [p.self] : []
  for (const c of list) {
    try {
      const recovered = await recoverMessageAddress({ message: { raw: p.digest }, signature: c.signature })
      if (recovered.toLowerCase() === c.keeper.toLowerCase()) signers.push(recovered)
    } catch {
      // a signature that does not recover vouches for nobody
    }
  }
  const have = countMembers(state, signers)
  const need = keeperQuorum(state)
  return { ok: have >= need, have, need }
}

function parseConfirmations(v: unknown): ChargeConfirmation[] {
  const bad = (why: string) => new W3aError('INVALID_ARGUMENT', `charge confirmations: ${why}`)
  if (v === undefined) return []
  if (!Array.isArray(v) || v.length > MAX_CONFIRMATIONS) throw bad(`expected a list of at most ${MAX_CONFIRMATIONS}`)
  return v.map((c: unknown) => {
    const o = c as Partial<ChargeConfirmation> | null
    if (typeof o?.keeper !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(o.keeper) || typeof o.signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(o.signature)) throw bad('each is { keeper, signature }')
    return { keeper: o.keeper as Address, signature: o.signature as Hex }
  })
}
