import {
  concat,
  encodeAbiParameters,
  encodePacked,
  keccak256,
  padHex,
  size,
  sliceHex,
  stringToHex,
  type Address,
  type Hex,
  type LocalAccount,
} from 'viem'
import { W3aError } from '../core/errors.js'
import { assertBytes32 } from './dataset.js'

// Byte-level helpers of the worker protocol (docs/design/custody-protocol.md). Each one matches
// the WorkerRegistry function of the same name byte for byte (tested against the contract).

/** Order matches the contract's teeType (0 sim, 1 tdx, 2 sgx). */
export const TEE_TYPES = ['sim', 'tdx', 'sgx'] as const
export type TeeType = (typeof TEE_TYPES)[number]

/** Role bits of the registry. */
export const WORKER_ROLES = { compute: 1, keeper: 2, storage: 4 } as const
export type WorkerRole = keyof typeof WORKER_ROLES
const ROLE_NAMES = Object.keys(WORKER_ROLES) as WorkerRole[]

/** Registration lifecycle as stored (`Status` minus None). */
export type WorkerState = 'active' | 'exiting' | 'withdrawn'
/** What a listing shows: slashed wins, then exited (exiting or withdrawn), then liveness. */
export type WorkerStatus = 'online' | 'offline' | 'exited' | 'slashed'

/** A registered worker with the registry's current verdict on it. */
export type WorkerInfo = {
  /** The worker key's address (its id). */
  address: Address
  /** Account that registered it, staked, and may exit/withdraw. */
  operator: Address
  teeType: TeeType
  measurement: Hex
  /** X25519 public key (32 bytes) made in the enclave. */
  hpkePublicKey: Hex
  roles: WorkerRole[]
  /** The roles as the contract's bitmask (1 compute, 2 keeper, 4 storage). */
  roleBits: number
  endpoint: string
  /** keccak256 of the quote registered with. */
  attestationHash: Hex
  /** Token base units still staked. */
  stake: bigint
  /** Unix seconds (block timestamps); `exitRequestedAt` is 0 unless an exit was requested. */
  registeredAt: number
  lastHeartbeat: number
  exitRequestedAt: number
  slashed: boolean
  state: WorkerState
  status: WorkerStatus
  /** Active, not slashed, heartbeat within the registry's timeout. */
  online: boolean
  /** Online, measurement allowed, and not sim on a network that no longer allows sim. */
  eligible: boolean
  measurementAllowed: boolean
  /** An active keeper: keeper role and eligible (the registry's `isKeeper`). */
  isKeeper: boolean
}

/** The registry's governance parameters. */
export type WorkerRegistryParams = {
  allowSim: boolean
  /** Address of the sim dev attestation key (zero: no sim quote verifies). */
  devAttestationSigner: Address
  /** Token base units staked per registration. */
  minStake: bigint
  /** Seconds a heartbeat keeps a worker online; also the exit → withdraw delay. */
  heartbeatTimeout: bigint
  /** Blocks per custody epoch. */
  epochLength: bigint
}

export function teeTypeToUint(t: TeeType): number {
  const n = TEE_TYPES.indexOf(t)
  if (n < 0) throw new W3aError('INVALID_ARGUMENT', `teeType must be one of ${TEE_TYPES.join(', ')}, got ${String(t)}`)
  return n
}

export function teeTypeFromUint(n: number): TeeType {
  const t = TEE_TYPES[n]
  if (t === undefined) throw new W3aError('INTERNAL', `unknown TEE type ${n} returned by the registry`)
  return t
}

/** Role names or a bitmask → the contract's bitmask (1..7). */
export function rolesToBits(roles: number | readonly WorkerRole[]): number {
  const bits =
    typeof roles === 'number'
      ? roles
      : roles.reduce((acc, r) => {
          const bit = WORKER_ROLES[r]
          if (bit === undefined) throw new W3aError('INVALID_ARGUMENT', `unknown worker role ${String(r)} (expected ${ROLE_NAMES.join(', ')})`)
          return acc | bit
        }, 0)
  if (!Number.isInteger(bits) || bits < 1 || bits > 7) {
    throw new W3aError('INVALID_ARGUMENT', `roles must be a non-empty combination of ${ROLE_NAMES.join(', ')} (bits 1..7), got ${JSON.stringify(roles)}`)
  }
  return bits
}

export function rolesFromBits(bits: number): WorkerRole[] {
  return ROLE_NAMES.filter((r) => (bits & WORKER_ROLES[r]) !== 0)
}

const REPORT_DATA_TAG = stringToHex('w3a.worker.v1', { size: 32 })

/**
 * The 64 bytes a worker's quote binds (hex):
 * keccak256(abi.encode(bytes32("w3a.worker.v1"), worker, hpkePublicKey, chainId, registry)) ‖ 32 zero bytes.
 */
export function reportDataFor(params: { worker: Address; hpkePublicKey: Hex; chainId: number | bigint; registry: Address }): Hex {
  assertBytes32(params.hpkePublicKey, 'hpkePublicKey')
  const inner = keccak256(
    encodeAbiParameters(
      [{ type: 'bytes32' }, { type: 'address' }, { type: 'bytes32' }, { type: 'uint256' }, { type: 'address' }],
      [REPORT_DATA_TAG, params.worker, params.hpkePublicKey, BigInt(params.chainId), params.registry],
    ),
  )
  return concat([inner, padHex('0x', { size: 32 })])
}

/**
 * What the worker key signs to consent to registration by `operator`: a raw digest signature
 * (`account.sign({ hash })`, no message prefix) over
 * keccak256(abi.encode("w3a.register.v1", chainId, registry, operator)).
 */
export function workerPossessionDigest(params: { chainId: number | bigint; registry: Address; operator: Address }): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'string' }, { type: 'uint256' }, { type: 'address' }, { type: 'address' }],
      ['w3a.register.v1', BigInt(params.chainId), params.registry, params.operator],
    ),
  )
}

export type KeeperApprovalParameters = {
  chainId: number | bigint
  registry: Address
  worker: Address
  measurement: Hex
  /** The worker's X25519 key as registered: the approval is for this key and no other. */
  hpkePublicKey: Hex
  attestationHash: Hex
  roles: number | readonly WorkerRole[]
  /** Unix seconds at which the keeper verified the quote (the registry refuses it once older than maxQuoteAge). */
  attestedAt: number | bigint
}

/**
 * What a keeper signs, with EIP-191 (`account.signMessage({ message: { raw: digest } })`), to
 * approve a tdx/sgx registration after verifying the quote itself (TCB policy, and report data
 * binding `worker` and `hpkePublicKey`):
 * keccak256(abi.encode("w3a.approve.v2", chainId, registry, worker, measurement, hpkePublicKey, attestationHash, uint8 roles, uint64 attestedAt)).
 */
export function keeperApprovalDigest(params: KeeperApprovalParameters): Hex {
  assertBytes32(params.measurement, 'measurement')
  assertBytes32(params.hpkePublicKey, 'hpkePublicKey')
  assertBytes32(params.attestationHash, 'attestationHash')
  return keccak256(
    encodeAbiParameters(
      [{ type: 'string' }, { type: 'uint256' }, { type: 'address' }, { type: 'address' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint8' }, { type: 'uint64' }],
      ['w3a.approve.v2', BigInt(params.chainId), params.registry, params.worker, params.measurement, params.hpkePublicKey, params.attestationHash, rolesToBits(params.roles), BigInt(params.attestedAt)],
    ),
  )
}

/** A keeper's approval signature (EIP-191 over `keeperApprovalDigest`). */
export async function signKeeperApproval(account: Pick<LocalAccount, 'signMessage'>, params: KeeperApprovalParameters): Promise<Hex> {
  return account.signMessage({ message: { raw: keeperApprovalDigest(params) } })
}

/**
 * What the dev attestation key signs in a sim quote, with EIP-191 (`signMessage({ message: { raw } })`):
 * keccak256(abi.encodePacked("W3A-SIM-QUOTE-v1", measurement, reportData)), reportData being 64 bytes.
 */
export function simQuoteDigest(measurement: Hex, reportData: Hex): Hex {
  assertBytes32(measurement, 'measurement')
  if (!/^0x[0-9a-fA-F]{128}$/.test(reportData)) throw new W3aError('INVALID_ARGUMENT', `reportData must be 64 bytes of hex, got ${JSON.stringify(reportData)}`)
  return keccak256(encodePacked(['string', 'bytes32', 'bytes'], ['W3A-SIM-QUOTE-v1', measurement, reportData]))
}

/** A sim quote's fields (169 bytes: "W3AQ" ‖ 1 ‖ 0 ‖ 0x0000 ‖ measurement ‖ reportData(64) ‖ signature(65)). */
export type SimQuote = { measurement: Hex; reportData: Hex; signature: Hex }

export const SIM_QUOTE_BYTES = 169

/** Encodes a sim quote exactly as the registry rebuilds it (its keccak256 is the attestationHash). */
export function encodeSimQuote(q: SimQuote): Hex {
  assertBytes32(q.measurement, 'measurement')
  if (size(q.reportData) !== 64) throw new W3aError('INVALID_ARGUMENT', `reportData must be 64 bytes, got ${size(q.reportData)}`)
  if (size(q.signature) !== 65) throw new W3aError('INVALID_ARGUMENT', `signature must be 65 bytes, got ${size(q.signature)}`)
  return concat([stringToHex('W3AQ'), '0x01', '0x00', '0x0000', q.measurement, q.reportData, q.signature])
}

/** Splits a sim quote; INVALID_ARGUMENT when the bytes are not one. */
export function decodeSimQuote(quote: Hex): SimQuote {
  if (!/^0x[0-9a-fA-F]*$/.test(quote) || size(quote) !== SIM_QUOTE_BYTES || sliceHex(quote, 0, 8).toLowerCase() !== `${stringToHex('W3AQ')}01000000`) {
    throw new W3aError('INVALID_ARGUMENT', `not a version-1 sim quote (${SIM_QUOTE_BYTES} bytes starting "W3AQ" 01 00 0000)`)
  }
  return { measurement: sliceHex(quote, 8, 40), reportData: sliceHex(quote, 40, 104), signature: sliceHex(quote, 104, 169) }
}

/** The custody epoch of a block: blockNumber / epochLength. */
export function epochOf(blockNumber: bigint, epochLength: bigint): bigint {
  if (epochLength <= 0n) throw new W3aError('INVALID_ARGUMENT', `epochLength must be positive, got ${epochLength}`)
  return blockNumber / epochLength
}

/** The struct as viem decodes `WorkerRegistry.viewWorker`. */
export type WorkerViewStruct = {
  worker: Address
  info: {
    operator: Address
    teeType: number
    roles: number
    status: number
    slashed: boolean
    registeredAt: bigint
    lastHeartbeat: bigint
    exitRequestedAt: bigint
    measurement: Hex
    hpkePublicKey: Hex
    attestationHash: Hex
    stake: bigint
    endpoint: string
  }
  online: boolean
  eligible: boolean
  measurementAllowed: boolean
  isKeeper: boolean
}

const STATES: Record<number, WorkerState> = { 1: 'active', 2: 'exiting', 3: 'withdrawn' }

export function workerFromView(v: WorkerViewStruct): WorkerInfo {
  const state = STATES[v.info.status]
  if (state === undefined) throw new W3aError('INTERNAL', `unknown worker status ${v.info.status} returned by the registry`)
  const status: WorkerStatus = v.info.slashed ? 'slashed' : state !== 'active' ? 'exited' : v.online ? 'online' : 'offline'
  return {
    address: v.worker,
    operator: v.info.operator,
    teeType: teeTypeFromUint(v.info.teeType),
    measurement: v.info.measurement,
    hpkePublicKey: v.info.hpkePublicKey,
    roles: rolesFromBits(v.info.roles),
    roleBits: v.info.roles,
    endpoint: v.info.endpoint,
    attestationHash: v.info.attestationHash,
    stake: v.info.stake,
    registeredAt: Number(v.info.registeredAt),
    lastHeartbeat: Number(v.info.lastHeartbeat),
    exitRequestedAt: Number(v.info.exitRequestedAt),
    slashed: v.info.slashed,
    state,
    status,
    online: v.online,
    eligible: v.eligible,
    measurementAllowed: v.measurementAllowed,
    isKeeper: v.isKeeper,
  }
}
