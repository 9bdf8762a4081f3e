/**
 * The whole custody state as bytes, for sealing at rest and for keeper hand-over. It holds the
 * live DEKs: only ever store it sealed (src/tee) or send it HPKE-encrypted (handover.ts), and
 * zero the bytes after use. Deleted datasets carry no key bytes at all.
 *
 *   "W3CS" ‖ u8 version=1 ‖ u64 processed ‖ bytes32 head ‖ u64 epoch
 *   ‖ u32 n ‖ n × dataset (ids ascending):
 *       bytes32 id ‖ address owner ‖ string manifestCid ‖ u8 deleted ‖ [32 bytes dek, if not deleted]
 *       ‖ string canonical policy JSON ‖ u64 registeredAtIndex ‖ u64 registeredEpoch ‖ f64 spent
 *       ‖ u32 × (address, f64) per-analyst spend ‖ u32 × (address, u64 expiresAt, u8 limited, u32 usesLeft) grants
 *       ‖ u8 hasWriter ‖ [address writer, if hasWriter]                    (version 4; not in 2 and 3)
 *   ‖ u32 m ‖ m × (address signer ‖ u32 × (u256 nonce, u64 expiry))
 *   ‖ u32 j ‖ j × (bytes32 jobId ‖ address analyst ‖ bytes32 datasetId ‖ bytes32 analysisHash
 *                  ‖ bytes32 privacyParamsHash ‖ u64 epsilonMicros ‖ u64 index ‖ u8 charged ‖ string reason)
 *   ‖ u32 k ‖ k × (address keeper ‖ bytes32 hpkePublicKey ‖ u64 admittedAt ‖ u64 attestedAt)
 *       (version 4; version 3 has no attestedAt (read as 0), version 2 no keeper set)
 *                                                                      (everything sorted ascending)
 *
 * Decoding refuses anything non-canonical (unsorted, duplicated, trailing bytes), so a
 * snapshot has one encoding and the decoded state has the same root as the encoded one.
 */
import type { Address, Hex } from 'viem'
import { dekHash } from '../crypto/typed-commands.js'
import { ByteReader, ByteWriter, malformed } from './canonical.js'
import { PersistentMap } from './persistent-map.js'
import { canonicalPolicyJson, parsePolicy } from './policy.js'
import type { JobChargeRecord } from './job-charge.js'
import type { KeeperRecord } from './keeper-set.js'
import { REFUSAL_REASONS } from './receipt.js'
import { datasetRecord, type CustodyState, type DatasetRecord, type GrantRecord, type NonceSet } from './state.js'

const MAGIC = new TextEncoder().encode('W3CS')
const VERSION = 4
/** Version 3: no dataset writer, keepers without attestedAt. */
const V3 = 3
/** Sealed states written before the keeper set existed: read with an empty set (service.ts adopts them). */
const LEGACY_VERSION = 2

export function encodeSnapshot(state: CustodyState): Uint8Array {
  const w = new ByteWriter().raw(MAGIC).u8(VERSION).u64(state.processed).bytes32(state.head).u64(state.epoch)
  w.u32(state.datasets.size)
  for (const [id, r] of state.datasets.entries()) {
    w.bytes32(id as Hex).address(r.owner).string(r.manifestCid).u8(r.deleted ? 1 : 0)
    if (!r.deleted) w.raw(r.dek!)
    w.string(canonicalPolicyJson(r.policy)).u64(r.registeredAtIndex).u64(r.registeredEpoch).f64(r.budget.spent)
    const analysts = sorted(r.budget.perAnalyst)
    w.u32(analysts.length)
    for (const [a, s] of analysts) w.address(a).f64(s)
    const grants = sorted(r.grants)
    w.u32(grants.length)
    for (const [g, grant] of grants) w.address(g).u64(grant.expiresAt).u8(grant.usesLeft === null ? 0 : 1).u32(grant.usesLeft ?? 0)
    w.u8(r.writer ? 1 : 0)
    if (r.writer) w.address(r.writer)
  }
  w.u32(state.usedNonces.size)
  for (const [signer, nonces] of state.usedNonces.entries()) {
    const list = [...nonces.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    w.address(signer as Address).u32(list.length)
    for (const [n, exp] of list) w.u256(n).u64(exp)
  }
  w.u32(state.jobCharges.size)
  for (const [key, j] of state.jobCharges.entries()) {
    w.bytes32(key as Hex).address(j.analyst).bytes32(j.datasetId).bytes32(j.analysisHash).bytes32(j.privacyParamsHash)
    w.u64(j.epsilonMicros).u64(j.index).u8(j.status === 'charged' ? 1 : 0).string(j.reason ?? '')
  }
  w.u32(state.keepers.size)
  for (const [address, k] of state.keepers.entries()) w.address(address as Address).bytes32(k.hpkePublicKey).u64(k.admittedAt).u64(k.attestedAt)
  return w.finish()
}

export function decodeSnapshot(bytes: Uint8Array): CustodyState {
  const r = new ByteReader(bytes)
  const magic = r.raw(4)
  if (!magic.every((b, i) => b === MAGIC[i])) throw malformed('not a custody snapshot')
  const version = r.u8()
  if (version !== VERSION && version !== V3 && version !== LEGACY_VERSION) throw malformed('unknown custody snapshot version')
  const processed = r.u64()
  const head = r.bytes32()
  const epoch = r.u64()
  let datasets = PersistentMap.empty<DatasetRecord>()
  let last = ''
  for (let i = r.u32(); i > 0; i--) {
    const id = r.bytes32()
    last = ascending(last, id)
    const owner = r.address()
    const manifestCid = r.string()
    const deleted = r.bool()
    const dek = deleted ? null : r.raw(32)
    let policy
    try {
      const text = r.string()
      policy = parsePolicy(JSON.parse(text))
      if (canonicalPolicyJson(policy) !== text) throw new Error('policy JSON is not canonical')
    } catch (cause) {
      throw malformed('snapshot policy', cause)
    }
    const registeredAtIndex = r.u64()
    const registeredEpoch = r.u64()
    const spent = r.f64()
    const perAnalyst = new Map<Address, number>()
    let lastA = ''
    for (let j = r.u32(); j > 0; j--) {
      const a = r.address()
      lastA = ascending(lastA, a)
      perAnalyst.set(a, r.f64())
    }
    const grants = new Map<Address, GrantRecord>()
    let lastG = ''
    for (let j = r.u32(); j > 0; j--) {
      const g = r.address()
      lastG = ascending(lastG, g)
      const expiresAt = r.u64()
      const limited = r.bool()
      const uses = r.u32()
      if (!limited && uses !== 0) throw malformed('unlimited grant with a use count')
      grants.set(g, Object.freeze({ expiresAt, usesLeft: limited ? uses : null }))
    }
    const writer = version === VERSION && r.bool() ? r.address() : undefined
    datasets = datasets.set(
      id,
      datasetRecord({ owner, manifestCid, dek, dekHash: dek ? dekHash(dek) : null, policy, grants, budget: { spent, perAnalyst }, registeredAtIndex, registeredEpoch, deleted, ...(writer ? { writer } : {}) }),
    )
  }
  let usedNonces = PersistentMap.empty<NonceSet>()
  last = ''
  for (let i = r.u32(); i > 0; i--) {
    const signer = r.address()
    last = ascending(last, signer)
    const nonces = new Map<bigint, bigint>()
    let prev = -1n
    for (let j = r.u32(); j > 0; j--) {
      const n = r.u256()
      if (n <= prev) throw malformed('snapshot nonces not ascending')
      prev = n
      nonces.set(n, r.u64())
    }
    usedNonces = usedNonces.set(signer, nonces)
  }
  let jobCharges = PersistentMap.empty<JobChargeRecord>()
  last = ''
  for (let i = r.u32(); i > 0; i--) {
    const key = r.bytes32()
    last = ascending(last, key)
    const analyst = r.address()
    const datasetId = r.bytes32()
    const analysisHash = r.bytes32()
    const privacyParamsHash = r.bytes32()
    const epsilonMicros = r.u64()
    const index = r.u64()
    const charged = r.bool()
    const reason = r.string()
    if (charged !== (reason === '')) throw malformed('snapshot job charge status and reason disagree')
    if (!charged && !(REFUSAL_REASONS as readonly string[]).includes(reason)) throw malformed('snapshot job charge has an unknown refusal reason')
    const record = { analyst, datasetId, analysisHash, privacyParamsHash, epsilonMicros, index, status: charged ? 'charged' : 'refused', ...(charged ? {} : { reason }) }
    jobCharges = jobCharges.set(key, Object.freeze(record) as JobChargeRecord)
  }
  let keepers = PersistentMap.empty<KeeperRecord>()
  last = ''
  for (let i = version === LEGACY_VERSION ? 0 : r.u32(); i > 0; i--) {
    const address = r.address()
    last = ascending(last, address)
    keepers = keepers.set(address, Object.freeze({ hpkePublicKey: r.bytes32(), admittedAt: r.u64(), attestedAt: version === VERSION ? r.u64() : 0n }))
  }
  r.end()
  return Object.freeze({ datasets, usedNonces, jobCharges, keepers, processed, head, epoch })
}

function ascending(prev: string, next: string): string {
  if (next <= prev) throw malformed('snapshot keys not in ascending order')
  return next
}

function sorted<V>(m: ReadonlyMap<string, V>): [Address, V][] {
  return ([...m.entries()] as [Address, V][]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}
