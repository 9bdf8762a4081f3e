/**
 * The custody state root: one hash over everything a keeper holds, so replicas can compare
 * (receipts carry it; keepers publish it per epoch). Keys are sorted; DEKs enter as
 * keccak256(dek) only; numbers and lists use the canonical encoding of canonical.ts.
 *
 *   datasetLeaf = keccak256(string "w3a.custody.dataset.v1" ‖ bytes32 id ‖ address owner ‖ string manifestCid
 *                 ‖ bytes32 dekHash (zero once deleted) ‖ u8 deleted ‖ bytes32 policyHash
 *                 ‖ u64 registeredAtIndex ‖ u64 registeredEpoch ‖ f64 spent
 *                 ‖ u32 n ‖ n × (address analyst ‖ f64 spent)              analysts sorted
 *                 ‖ u32 m ‖ m × (address grantee ‖ u64 expiresAt ‖ u8 limited ‖ u32 usesLeft)  grantees sorted
 *                 [‖ string "writer" ‖ address writer, only when a writer is set]
 *                 [‖ string "pool" ‖ string purpose ‖ u32 n ‖ n × bytes32 contribution, only for a pool]
 *                 [‖ string "contribution" ‖ bytes32 pool ‖ u32 × string allow ‖ u32 × string deny ‖ u8 withdrawn, only for a contribution])
 *   nonceLeaf   = keccak256(string "w3a.custody.nonces.v1" ‖ address signer ‖ u32 n ‖ n × (u256 nonce ‖ u64 expiry))  nonces ascending
 *   jobLeaf     = keccak256(string "w3a.custody.job.v1" ‖ bytes32 jobId ‖ address analyst ‖ bytes32 datasetId
 *                 ‖ bytes32 analysisHash ‖ bytes32 privacyParamsHash ‖ u64 epsilonMicros ‖ u64 index
 *                 ‖ u8 charged ‖ string reason ("" when charged)
 *                 [‖ string "declared" ‖ u8 kind ‖ bytes32 functionHash ‖ string purpose, only for a v3 charge]
 *                 [‖ string "inputs" ‖ u32 n ‖ n × bytes32 contribution, only for a charged pool job])
 *   keeperLeaf  = keccak256(string "w3a.custody.keeper.v2" ‖ address keeper ‖ bytes32 hpkePublicKey ‖ u64 admittedAt ‖ u64 attestedAt)
 *   datasets, nonces, jobs, keepers = PersistentMap digests of those leaves (persistent-map.ts)
 *   stateRoot   = keccak256(string "w3a.custody.state.v3" ‖ bytes32 datasets ‖ bytes32 nonces ‖ bytes32 jobs
 *                 ‖ bytes32 keepers ‖ u64 processed ‖ bytes32 head ‖ u64 epoch)
 */
import { keccak_256 } from '@noble/hashes/sha3.js'
import { bytesToHex, type Address, type Hex } from 'viem'
import { ByteWriter } from './canonical.js'
import { createDigestCache } from './persistent-map.js'
import type { JobChargeRecord } from './job-charge.js'
import type { KeeperRecord } from './keeper-set.js'
import { policyHash } from './policy.js'
import { ZERO_HASH, type CustodyState, type DatasetRecord, type NonceSet } from './state.js'

const datasetCache = createDigestCache()
const nonceCache = createDigestCache()
const jobCache = createDigestCache()
const keeperCache = createDigestCache()

export function datasetLeaf(id: string, r: DatasetRecord): Uint8Array {
  const w = new ByteWriter()
    .string('w3a.custody.dataset.v1')
    .bytes32(id as Hex)
    .address(r.owner)
    .string(r.manifestCid)
    .bytes32(r.dekHash ?? ZERO_HASH)
    .u8(r.deleted ? 1 : 0)
    .bytes32(policyHash(r.policy))
    .u64(r.registeredAtIndex)
    .u64(r.registeredEpoch)
    .f64(r.budget.spent)
  const analysts = sortedEntries(r.budget.perAnalyst)
  w.u32(analysts.length)
  for (const [a, spent] of analysts) w.address(a).f64(spent)
  const grants = sortedEntries(r.grants)
  w.u32(grants.length)
  for (const [g, grant] of grants) w.address(g).u64(grant.expiresAt).u8(grant.usesLeft === null ? 0 : 1).u32(grant.usesLeft ?? 0)
  // Appended only when set: roots of datasets without a writer stay what they were.
  if (r.writer) w.string('writer').address(r.writer)
  if (r.pool) ids(w.string('pool').string(r.pool.purpose), r.pool.contributions)
  if (r.contribution) {
    const c = r.contribution
    strings(strings(w.string('contribution').bytes32(c.pool), c.allow), c.deny).u8(c.withdrawn ? 1 : 0)
  }
  return keccak_256(w.finish())
}

export function nonceLeaf(signer: string, nonces: NonceSet): Uint8Array {
  const w = new ByteWriter().string('w3a.custody.nonces.v1').address(signer as Address)
  const sorted = [...nonces.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  w.u32(sorted.length)
  for (const [nonce, expiry] of sorted) w.u256(nonce).u64(expiry)
  return keccak_256(w.finish())
}

export function jobLeaf(key: string, j: JobChargeRecord): Uint8Array {
  const w = new ByteWriter()
    .string('w3a.custody.job.v1')
    .bytes32(key as Hex)
    .address(j.analyst)
    .bytes32(j.datasetId)
    .bytes32(j.analysisHash)
    .bytes32(j.privacyParamsHash)
    .u64(j.epsilonMicros)
    .u64(j.index)
    .u8(j.status === 'charged' ? 1 : 0)
    .string(j.reason ?? '')
  // Appended only when present: the leaves of older charges stay what they were.
  if (j.analysisKind !== undefined) w.string('declared').u8(j.analysisKind === 'function' ? 1 : 0).bytes32(j.functionHash ?? ZERO_HASH).string(j.purpose ?? '')
  if (j.inputs) ids(w.string('inputs'), j.inputs)
  return keccak_256(w.finish())
}

export function keeperLeaf(address: string, k: KeeperRecord): Uint8Array {
  return keccak_256(new ByteWriter().string('w3a.custody.keeper.v2').address(address as Address).bytes32(k.hpkePublicKey).u64(k.admittedAt).u64(k.attestedAt).finish())
}

export type StateRootParts = { datasets: Hex; nonces: Hex; jobs: Hex; keepers: Hex; processed: bigint; head: Hex; epoch: bigint; root: Hex }

/** The root and what it is made of (`datasets`, `nonces`, `jobs` and `keepers` are the content; the rest is position). */
export function stateRootParts(state: CustodyState): StateRootParts {
  const datasets = state.datasets.digest(datasetLeaf, datasetCache)
  const nonces = state.usedNonces.digest(nonceLeaf, nonceCache)
  const jobs = state.jobCharges.digest(jobLeaf, jobCache)
  const keepers = state.keepers.digest(keeperLeaf, keeperCache)
  const root = keccak_256(
    new ByteWriter().string('w3a.custody.state.v3').raw(datasets).raw(nonces).raw(jobs).raw(keepers).u64(state.processed).bytes32(state.head).u64(state.epoch).finish(),
  )
  return { datasets: bytesToHex(datasets), nonces: bytesToHex(nonces), jobs: bytesToHex(jobs), keepers: bytesToHex(keepers), processed: state.processed, head: state.head, epoch: state.epoch, root: bytesToHex(root) }
}

export function stateRoot(state: CustodyState): Hex {
  return stateRootParts(state).root
}

function ids(w: ByteWriter, list: readonly Hex[]): ByteWriter {
  w.u32(list.length)
  for (const id of list) w.bytes32(id)
  return w
}

function strings(w: ByteWriter, list: readonly string[]): ByteWriter {
  w.u32(list.length)
  for (const t of list) w.string(t)
  return w
}

function sortedEntries<V>(m: ReadonlyMap<string, V>): [Address, V][] {
  return ([...m.entries()] as [Address, V][]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}
