/**
 * The keeper set: which enclaves custody state counts as keepers, for the quorum checks that
 * stand in for a light client (charge confirmations, charge-confirmation.ts). It lives in custody
 * state, so it moves only by inbox entries every keeper applies the same way, never by a host's
 * chain read.
 *
 * Genesis: the enclave that makes the cluster secret (`bootstrapCluster`) is the set of one.
 * A keeper joins only by a keeper admission entry, posted in clear by anyone:
 *
 *   abi.encode(string "w3a.keeper-admission.v1", address worker, bytes32 hpkePublicKey,
 *              bytes32 measurement, uint8 teeType (0 sim, 1 tdx, 2 sgx), uint8 roles,
 *              bytes32 attestationHash, uint64 attestedAt, bytes quote, bytes[] approvals)
 *
 * Each approval is a keeper enclave's EIP-191 signature over `keeperApprovalDigest` (the same
 * digest WorkerRegistry.register checks, chain/worker.ts) of exactly these fields. The entry
 * applies only if the approvals recover to distinct members of THIS state's set numbering a
 * strict majority of it, so one hostile keeper cannot admit enclaves of its own. The quote
 * must hash to attestationHash and bind the worker's address and HPKE key on this chain and
 * registry; a sim quote is verified in full (dev attestation signature, measured code
 * allow-list), a tdx/sgx quote's DCAP chain is the approvers' word (each verified it with
 * collateral before signing). A member leaves by a keeper removal entry, approved the same way
 * (keeper-removal.ts), so quorum sizes follow the live set.
 *
 * Each member's record keeps the admission's `attestedAt` (genesis: the bootstrapping enclave's
 * clock): an agreed registration time, so a quote registered longer ago than the TCB policy's
 * maxQuoteAge does not count towards a refusal quorum (refusal-quorum.ts).
 *
 * Deterministic: the clock is the entry's block timestamp; signature recovery and the quote
 * check need no state, so they run in the stateless half (`prepareKeeperAdmission`).
 */
import { bytesToHex, decodeAbiParameters, encodeAbiParameters, hexToBytes, keccak256, recoverMessageAddress, type Address, type Hex } from 'viem'
import { TEE_TYPES, WORKER_ROLES, keeperApprovalDigest, type TeeType } from '../chain/worker.js'
import { readQuoteFields } from '../tee/quote-format.js'
import { workerReportData } from '../tee/report-data.js'
import type { TeePolicy } from '../tee/types.js'
import { verifyWorkerQuote } from '../tee/verify-quote.js'
import type { CustodyState } from './state.js'
import type { RefusalReason } from './receipt.js'

export const KEEPER_ADMISSION_TAG = 'w3a.keeper-admission.v1'
/** An admission's approvals are at most this old (seconds before the entry's block) and never from the future. */
export const ADMISSION_MAX_AGE_SECONDS = 86_400n
const CLOCK_SKEW_SECONDS = 300n
const MAX_APPROVALS = 64

/** A member of the keeper set (key: its worker address, lowercase). */
export type KeeperRecord = Readonly<{
  hpkePublicKey: Hex
  /** inbox index of its admission (genesis: state.processed at bootstrap) */
  admittedAt: bigint
  /** unix seconds its quote was verified for the admission (genesis: the bootstrap time); 0 if sealed before this was kept */
  attestedAt: bigint
}>

export type KeeperAdmission = {
  worker: Address
  hpkePublicKey: Hex
  measurement: Hex
  teeType: TeeType
  roles: number
  attestationHash: Hex
  attestedAt: bigint
  quote: Hex
  approvals: Hex[]
}

/** What admission checks need beyond the entry: the registry (digest, report data) and the enclave's measured policy. */
export type KeeperAdmissionContext = { chainId: number; registry: Address; policy: TeePolicy }

/** An admission after the stateless checks: who signed it (recovered, in order). */
export type CheckedAdmission = { admission: KeeperAdmission; signers: Address[] }
export type PreparedAdmission = ({ ok: true } & CheckedAdmission) | { ok: false; reason: RefusalReason }

const ABI = [
  { type: 'string' },
  { type: 'address' },
  { type: 'bytes32' },
  { type: 'bytes32' },
  { type: 'uint8' },
  { type: 'uint8' },
  { type: 'bytes32' },
  { type: 'uint64' },
  { type: 'bytes' },
  { type: 'bytes[]' },
] as const

export function encodeKeeperAdmission(a: KeeperAdmission): Uint8Array {
  return hexToBytes(
    encodeAbiParameters(ABI, [KEEPER_ADMISSION_TAG, a.worker, a.hpkePublicKey, a.measurement, TEE_TYPES.indexOf(a.teeType), a.roles, a.attestationHash, a.attestedAt, a.quote, a.approvals]),
  )
}

/** Undefined if `payload` is not an admission (wrong tag, bad encoding): it is then read as a sealed command. */
export function decodeKeeperAdmission(payload: Uint8Array): KeeperAdmission | undefined {
  if (!hasAdmissionTag(payload)) return undefined
  try {
    const [tag, worker, hpkePublicKey, measurement, tee, roles, attestationHash, attestedAt, quote, approvals] = decodeAbiParameters(ABI, payload)
    const teeType = TEE_TYPES[tee]
    if (tag !== KEEPER_ADMISSION_TAG || teeType === undefined) return undefined
    const lower = <T extends string>(s: T) => s.toLowerCase() as T
    return { worker: lower(worker), hpkePublicKey: lower(hpkePublicKey), measurement: lower(measurement), teeType, roles, attestationHash: lower(attestationHash), attestedAt, quote: lower(quote), approvals: [...approvals] }
  } catch {
    return undefined
  }
}

const TAG_BYTES = new TextEncoder().encode(KEEPER_ADMISSION_TAG)

/**
 * Whether the payload's first parameter (an ABI string: an offset word, then at that offset a length
 * word and the bytes) is the admission tag. Every inbox entry is tried as an admission before it is
 * opened as a sealed command, and a full ABI decode that fails costs far more than this look.
 */
function hasAdmissionTag(p: Uint8Array): boolean {
  const word = (at: number): number | undefined => {
    if (at + 32 > p.length) return undefined
    for (let i = at; i < at + 28; i++) if (p[i] !== 0) return undefined
    return ((p[at + 28]! << 24) >>> 0) + (p[at + 29]! << 16) + (p[at + 30]! << 8) + p[at + 31]!
  }
  const offset = word(0)
  if (offset === undefined || word(offset) !== TAG_BYTES.length || offset + 32 + TAG_BYTES.length > p.length) return false
  return TAG_BYTES.every((b, i) => p[offset + 32 + i] === b)
}

/** The set of one that `bootstrapCluster` starts a network with. */
export function withGenesisKeeper(state: CustodyState, keeper: { address: Address; hpkePublicKey: Hex; attestedAt: bigint }): CustodyState {
  const record: KeeperRecord = Object.freeze({ hpkePublicKey: keeper.hpkePublicKey.toLowerCase() as Hex, admittedAt: state.processed, attestedAt: keeper.attestedAt })
  return Object.freeze({ ...state, keepers: state.keepers.set(keeper.address.toLowerCase(), record) })
}

export function isKeeper(state: CustodyState, address: string): boolean {
  return typeof address === 'string' && state.keepers.has(address.toLowerCase())
}

/** Members needed for a strict majority of the set. */
export function keeperQuorum(state: CustodyState): number {
  return quorumOf(state.keepers.size)
}

/** Members needed for a strict majority of a set of `size`. */
export function quorumOf(size: number): number {
  return Math.floor(size / 2) + 1
}

/** The set as a list, addresses ascending: what a refusal quorum names (refusal-quorum.ts). */
export function keeperList(state: CustodyState): { address: Address; attestedAt: bigint }[] {
  return [...state.keepers.entries()].map(([address, k]) => ({ address: address as Address, attestedAt: k.attestedAt })).sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
}

/** keccak256(abi.encode(address[] keepers, uint64[] attestedAt)), addresses lowercase ascending: one set, one hash. */
export function keeperSetHash(list: readonly { address: Address; attestedAt: bigint }[]): Hex {
  return keccak256(encodeAbiParameters([{ type: 'address[]' }, { type: 'uint64[]' }], [list.map((k) => k.address), list.map((k) => k.attestedAt)]))
}

/** How many of `signers` are distinct members of the set (anyone else counts for nothing). */
export function countMembers(state: CustodyState, signers: readonly string[]): number {
  return new Set(signers.map((s) => s.toLowerCase()).filter((s) => state.keepers.has(s))).size
}

/** The stateless half: shape, age, quote and signature recovery. */
export async function prepareKeeperAdmission(payload: Uint8Array, timestamp: bigint, ctx: KeeperAdmissionContext): Promise<PreparedAdmission | undefined> {
  const a = decodeKeeperAdmission(payload)
  if (!a) return undefined
  const refuse = (reason: RefusalReason): PreparedAdmission => ({ ok: false, reason })
  if ((a.roles & WORKER_ROLES.keeper) === 0 || a.roles > 7 || a.approvals.length > MAX_APPROVALS) return refuse('malformed')
  if (a.attestedAt > timestamp + CLOCK_SKEW_SECONDS || timestamp - a.attestedAt > ADMISSION_MAX_AGE_SECONDS) return refuse('expired')
  if (!(await quoteBindsNewcomer(a, ctx))) return refuse('bad-attestation')
  const digest = keeperApprovalDigest({ ...ctx, worker: a.worker, measurement: a.measurement, hpkePublicKey: a.hpkePublicKey, attestationHash: a.attestationHash, roles: a.roles, attestedAt: a.attestedAt })
  const signers: Address[] = []
  for (const signature of a.approvals) {
    try {
      signers.push((await recoverMessageAddress({ message: { raw: digest }, signature })).toLowerCase() as Address)
    } catch {
      return refuse('bad-signature')
    }
  }
  return { ok: true, admission: a, signers }
}

/** The stateful half: a strict majority of the current set approved, and the newcomer is not in it yet. */
export function applyKeeperAdmission(state: CustodyState, p: CheckedAdmission, index: bigint): { state: CustodyState; reason?: RefusalReason } {
  if (isKeeper(state, p.admission.worker)) return { state, reason: 'already-keeper' }
  if (countMembers(state, p.signers) < keeperQuorum(state)) return { state, reason: 'quorum-not-reached' }
  const record: KeeperRecord = Object.freeze({ hpkePublicKey: p.admission.hpkePublicKey, admittedAt: index, attestedAt: p.admission.attestedAt })
  return { state: { ...state, keepers: state.keepers.set(p.admission.worker, record) } }
}

async function quoteBindsNewcomer(a: KeeperAdmission, ctx: KeeperAdmissionContext): Promise<boolean> {
  const quote = hexToBytes(a.quote)
  if (keccak256(quote) !== a.attestationHash) return false
  const expected = { worker: a.worker, hpkePublicKey: hexToBytes(a.hpkePublicKey), chainId: ctx.chainId, registry: ctx.registry }
  try {
    const fields = readQuoteFields(quote)
    if (fields.teeType !== a.teeType || fields.measurement.toLowerCase() !== a.measurement) return false
    if (fields.teeType === 'sim') {
      const at = Number(a.attestedAt)
      await verifyWorkerQuote(quote, { ...ctx.policy, now: at, currentTime: at }, expected)
      return true
    }
    return fields.reportData.toLowerCase() === bytesToHex(workerReportData(expected))
  } catch {
    return false // not a quote, or one that does not verify: either way it vouches for nobody
  }
}
