/**
 * The confidential custody state every keeper replays from the inbox.
 *
 * Immutable: `applyInboxEntry` and `chargeAccess` return a new state that shares unchanged parts
 * with the old one (see persistent-map.ts); nothing edits a state in place, with one deliberate
 * exception: a Delete zeroes the DEK bytes, which every older state object shared too, so no
 * copy of a deleted key stays reachable from any state.
 *
 * Keys are lowercase hex: dataset ids, and addresses (owners, grantees, analysts, signers).
 */
import type { Address, Hex } from 'viem'
import { PersistentMap } from './persistent-map.js'
import type { JobChargeRecord } from './job-charge.js'
import type { KeeperRecord } from './keeper-set.js'
import type { CustodyPolicy } from './policy.js'

/** `expiresAt` unix seconds (0 = never); `usesLeft` null = unlimited. */
export type GrantRecord = Readonly<{ expiresAt: bigint; usesLeft: number | null }>

/** ε spent on the dataset in total and per analyst. */
export type BudgetRecord = Readonly<{ spent: number; perAnalyst: ReadonlyMap<Address, number> }>

export type DatasetRecord = Readonly<{
  owner: Address
  manifestCid: string
  /** The dataset key; null once deleted (its bytes were zeroed). */
  dek: Uint8Array | null
  /** keccak256(dek), the RegisterDataset `sealedKeyHash`; null once deleted. */
  dekHash: Hex | null
  policy: CustodyPolicy
  grants: ReadonlyMap<Address, GrantRecord>
  budget: BudgetRecord
  /** Inbox index of the RegisterDataset command. */
  registeredAtIndex: bigint
  /**
   * The epoch the current key's ciphertext was sealed to (RegisterDataset's, or the last
   * RotateKey's entry): once every keeper is past it, that ciphertext is unopenable.
   */
  registeredEpoch: bigint
  deleted: boolean
  /** Who besides the owner may append (UpdateManifest), set by the owner's SetWriter; absent: nobody. */
  writer?: Address
  /** A pool (RegisterPool, pool.ts): no key of its own (`dek` null, not deleted); its contributions' ids. */
  pool?: PoolRecord
  /** A contribution to a pool (Contribute, pool.ts): its pool and its owner's consent. */
  contribution?: ContributionRecord
}>

/** `contributions`: ids of the live contributions, in the order they came (a deleted one leaves it). */
export type PoolRecord = Readonly<{ purpose: string; contributions: readonly Hex[] }>

/** Purposes normalized (pool.ts `normalizePurpose`), sorted, unique. */
export type ContributionRecord = Readonly<{ pool: Hex; allow: readonly string[]; deny: readonly string[]; withdrawn: boolean }>

/** Per signer: nonce → expiry of the command that used it (kept until that expiry passes). */
export type NonceSet = ReadonlyMap<bigint, bigint>

export type CustodyState = Readonly<{
  datasets: PersistentMap<DatasetRecord>
  usedNonces: PersistentMap<NonceSet>
  /** Per job (key: jobChargeKey), the charge the Jobs contract posted and its outcome. */
  jobCharges: PersistentMap<JobChargeRecord>
  /** The keeper set (keeper-set.ts), key: worker address: whose confirmations count for a quorum. */
  keepers: PersistentMap<KeeperRecord>
  /** Number of inbox entries applied (applied or refused) = the next index to apply. */
  processed: bigint
  /** Inbox hash-chain head after the last applied entry (inbox-head.ts). */
  head: Hex
  /** Epoch of the block of the last applied entry; entries never go back in epoch. */
  epoch: bigint
}>

export const ZERO_HASH: Hex = `0x${'00'.repeat(32)}`

export function createEmptyState(): CustodyState {
  return Object.freeze({ datasets: PersistentMap.empty<DatasetRecord>(), usedNonces: PersistentMap.empty<NonceSet>(), jobCharges: PersistentMap.empty<JobChargeRecord>(), keepers: PersistentMap.empty<KeeperRecord>(), processed: 0n, head: ZERO_HASH, epoch: 0n })
}

export function getDataset(state: CustodyState, datasetId: Hex): DatasetRecord | undefined {
  return typeof datasetId === 'string' ? state.datasets.get(datasetId.toLowerCase()) : undefined
}

/** A frozen record; the maps inside are typed read-only and never edited after this. */
export function datasetRecord(r: DatasetRecord): DatasetRecord {
  return Object.freeze({ ...r, budget: Object.freeze({ ...r.budget }) })
}
