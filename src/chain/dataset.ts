import { encodeAbiParameters, keccak256, type Address, type Hex } from 'viem'
import { W3aError } from '../core/errors.js'

/**
 * Order matches `DatasetRegistry.Status` (Active = 0, Paused = 1, Deleted = 2, Unlisted = 3).
 * A dataset is registered `unlisted`; `active` means listed on the market (`w3a market list`).
 */
export const DATASET_STATUSES = ['active', 'paused', 'deleted', 'unlisted'] as const
export type DatasetStatus = (typeof DATASET_STATUSES)[number]

/** A dataset's public, on-chain metadata. */
export type Dataset = {
  /** bytes32 = datasetIdFor(owner, salt) (bound into the encryption AAD). */
  id: Hex
  owner: Address
  name: string
  /** CIDv1 (base32) of the encrypted dataset manifest. */
  manifestCid: string
  /** Hash of the public schema. */
  schemaHash: Hex
  /** Token base units per query. */
  pricePerQuery: bigint
  status: DatasetStatus
  /** Unix seconds (block timestamp). */
  createdAt: number
  updatedAt: number
}

/** The struct as viem decodes `DatasetRegistry.get`. */
export type DatasetStruct = {
  owner: Address
  status: number
  createdAt: number
  updatedAt: number
  schemaHash: Hex
  pricePerQuery: bigint
  name: string
  manifestCid: string
}

export function statusFromUint(n: number): DatasetStatus {
  const s = DATASET_STATUSES[n]
  if (s === undefined) throw new W3aError('INTERNAL', `unknown dataset status ${n} returned by the registry`)
  return s
}

export function statusToUint(s: DatasetStatus): number {
  const n = DATASET_STATUSES.indexOf(s)
  if (n < 0) throw new W3aError('INVALID_ARGUMENT', `dataset status must be one of ${DATASET_STATUSES.join(', ')}, got ${String(s)}`)
  return n
}

export function datasetFromStruct(id: Hex, d: DatasetStruct): Dataset {
  return {
    id,
    owner: d.owner,
    name: d.name,
    manifestCid: d.manifestCid,
    schemaHash: d.schemaHash,
    pricePerQuery: d.pricePerQuery,
    status: statusFromUint(d.status),
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  }
}

/** Throws INVALID_ARGUMENT unless `id` is a 0x-prefixed 32-byte hex string. */
export function assertDatasetId(id: unknown): asserts id is Hex {
  assertBytes32(id, 'dataset id')
}

/**
 * The id `owner` gets when registering with `salt`: keccak256(abi.encode(owner, salt)), exactly as
 * `DatasetRegistry.datasetIdFor`. Deriving it from the sender stops front-running: someone who
 * copies a pending registration's salt gets a different id.
 */
export function datasetIdFor(owner: Address, salt: Hex): Hex {
  assertBytes32(salt, 'dataset salt')
  return keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'bytes32' }], [owner, salt]))
}

/** Throws INVALID_ARGUMENT unless `value` is a 0x-prefixed 32-byte hex string. */
export function assertBytes32(value: unknown, what: string): asserts value is Hex {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(value)) {
    throw new W3aError('INVALID_ARGUMENT', `${what} must be 32 bytes of hex (0x + 64 hex digits), got ${JSON.stringify(value)}`)
  }
}
