/**
 * The whole custody state as bytes, for sealing at rest and for keeper hand-over. It holds the
 * live DEKs: only ever store it sealed (src/tee) or send it HPKE-encrypted (handover.ts), and
 * zero the bytes after use. Deleted datasets carry no key bytes at all.
 *
 *   "W3CS" ‖ u8 version=5 ‖ u64 processed ‖ bytes32 head ‖ u64 epoch
 *   ‖ u32 n ‖ n × dataset (ids ascending):
 *       bytes32 id ‖ address owner ‖ string manifestCid ‖ u8 deleted ‖ u8 hasKey ‖ [32 bytes dek, if hasKey]
 *         (before version 5 there is no hasKey: the dek follows unless deleted; a pool has none)
 *       ‖ string canonical policy JSON ‖ u64 registeredAtIndex ‖ u64 registeredEpoch ‖ f64 spent
 *       ‖ u32 × (address, f64) per-analyst spend ‖ u32 × (address, u64 expiresAt, u8 limited, u32 usesLeft) grants
 *       ‖ u8 hasWriter ‖ [address writer, if hasWriter]                    (version 4; not in 2 and 3)
 *       ‖ u8 isPool ‖ [string purpose ‖ u32 × bytes32 contribution]
 *       ‖ u8 isContribution ‖ [bytes32 pool ‖ u32 × string allow ‖ u32 × string deny ‖ u8 withdrawn]  (version 5)
 *   ‖ u32 m ‖ m × (address signer ‖ u32 × (u256 nonce, u64 expiry))
 *   ‖ u32 j ‖ j × (bytes32 jobId ‖ address analyst ‖ bytes32 datasetId ‖ bytes32 analysisHash
 *                  ‖ bytes32 privacyParamsHash ‖ u64 epsilonMicros ‖ u64 index ‖ u8 charged ‖ string reason
 *                  ‖ u8 declared ‖ [u8 kind ‖ bytes32 functionHash ‖ string purpose] ‖ u8 hasInputs ‖ [u32 × bytes32 input])  (version 5)
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
import { datasetRecord, ZERO_HASH, type CustodyState, type DatasetRecord, type GrantRecord, type NonceSet } from './state.js'

const MAGIC = new TextEncoder().encode('W3CS')
const VERSION = 5
/** Version 4: no pools, charges without what the job declared. */
const V4 = 4
/** Version 3: no dataset writer, keepers without attestedAt. */
const V3 = 3
/** Sealed states written before the keeper set existed: read with an empty set (service.ts adopts them). */
const LEGACY_VERSION = 2

export function encodeSnapshot(state: CustodyState): Uint8Array {
  const w = new ByteWriter().raw(MAGIC).u8(VERSION).u64(state.processed).bytes32(state.head).u64(state.epoch)
  w.u32(state.datasets.size)
  for (const [id, r] of state.datasets.entries()) {
    w.bytes32(id as Hex).address(r.owner).string(r.manifestCid).u8(r.deleted ? 1 : 0).u8(r.dek ? 1 : 0)
    if (r.dek) w.raw(r.dek)
    w.string(canonicalPolicyJson(r.policy)).u64(r.registeredAtIndex).u64(r.registeredEpoch).f64(r.budget.spent)
    const analysts = sorted(r.budget.perAnalyst)
    w.u32(analysts.length)
    for (const [a, s] of analysts) w.address(a).f64(s)
    const grants = sorted(r.grants)
    w.u32(grants.length)
    for (const [g, grant] of grants) w.address(g).u64(grant.expiresAt).u8(grant.usesLeft === null ? 0 : 1).u32(grant.usesLeft ?? 0)
    w.u8(r.writer ? 1 : 0)
    if (r.writer) w.address(r.writer)
    w.u8(r.pool ? 1 : 0)
    if (r.pool) writeIds(w.string(r.pool.purpose), r.pool.contributions)
    w.u8(r.contribution ? 1 : 0)
    if (r.contribution) writeStrings(writeStrings(w.bytes32(r.contribution.pool), r.contribution.allow), r.contribution.deny).u8(r.contribution.withdrawn ? 1 : 0)
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
    w.u8(j.analysisKind === undefined ? 0 : 1)
    if (j.analysisKind !== undefined) w.u8(j.analysisKind === 'function' ? 1 : 0).bytes32(j.functionHash ?? ZERO_HASH).string(j.purpose ?? '')
    w.u8(j.inputs ? 1 : 0)
    if (j.inputs) writeIds(w, j.inputs)
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
  if (version !== VERSION && version !== V4 && version !== V3 && version !== LEGACY_VERSION) throw malformed('unknown custody snapshot version')
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
    const hasKey = version >= VERSION ? r.bool() : !deleted
    if (deleted && hasKey) throw malformed('snapshot deleted dataset holds a key')
    const dek = hasKey ? r.raw(32) : null
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
    const writer = version >= V4 && r.bool() ? r.address() : undefined
    const pool = version >= VERSION && r.bool() ? Object.freeze({ purpose: r.string(), contributions: Object.freeze(readIds(r)) }) : undefined
    const contribution = version >= VERSION && r.bool() ? Object.freeze({ pool: r.bytes32(), allow: Object.freeze(readStrings(r)), deny: Object.freeze(readStrings(r)), withdrawn: r.bool() }) : undefined
    if (pool && dek) throw malformed('snapshot pool holds a key')
    if (!pool && !deleted && !dek) throw malformed('snapshot live dataset without a key')
    datasets = datasets.set(
      id,
      datasetRecord({
        owner,
        manifestCid,
        dek,
        dekHash: dek ? dekHash(dek) : null,
        policy,
        grants,
        budget: { spent, perAnalyst },
        registeredAtIndex,
        registeredEpoch,
        deleted,
        ...(writer ? { writer } : {}),
        ...(pool ? { pool } : {}),
        ...(contribution ? { contribution } : {}),
      }),
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
    const declared = version >= VERSION && r.bool() ? { analysisKind: r.u8() === 1 ? ('function' as const) : ('sql' as const), functionHash: r.bytes32(), purpose: r.string() } : undefined
    const inputs = version >= VERSION && r.bool() ? Object.freeze(readIds(r)) : undefined
    const record = { analyst, datasetId, analysisHash, privacyParamsHash, epsilonMicros, index, status: charged ? 'charged' : 'refused', ...(charged ? {} : { reason }), ...declared, ...(inputs ? { inputs } : {}) }
    jobCharges = jobCharges.set(key, Object.freeze(record) as JobChargeRecord)
  }
  let keepers = PersistentMap.empty<KeeperRecord>()
  last = ''
  for (let i = version === LEGACY_VERSION ? 0 : r.u32(); i > 0; i--) {
    const address = r.address()
    last = ascending(last, address)
    keepers = keepers.set(address, Object.freeze({ hpkePublicKey: r.bytes32(), admittedAt: r.u64(), attestedAt: version >= V4 ? r.u64() : 0n }))
  }
  r.end()
  return Object.freeze({ datasets, usedNonces, jobCharges, keepers, processed, head, epoch })
}

function writeIds(w: ByteWriter, ids: readonly Hex[]): ByteWriter {
  w.u32(ids.length)
  for (const id of ids) w.bytes32(id)
  return w
}

function readIds(r: ByteReader): Hex[] {
  const out: Hex[] = []
  for (let i = r.u32(); i > 0; i--) out.push(r.bytes32())
  return out
}

function writeStrings(w: ByteWriter, list: readonly string[]): ByteWriter {
  w.u32(list.length)
  for (const t of list) w.string(t)
  return w
}

function readStrings(r: ByteReader): string[] {
  const out: string[] = []
  for (let i = r.u32(); i > 0; i--) out.push(r.string())
  return out
}

function ascending(prev: string, next: string): string {
  if (next <= prev) throw malformed('snapshot keys not in ascending order')
  return next
}

function sorted<V>(m: ReadonlyMap<string, V>): [Address, V][] {
  return ([...m.entries()] as [Address, V][]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}
