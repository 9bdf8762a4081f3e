import type { Address, Hex } from 'viem'
import { W3aError } from '../core/errors.js'

/** Order matches `DatasetRegistry.Status` (Active = 0, Paused = 1, Deleted = 2). */
export const DATASET_STATUSES = ['active', 'paused', 'deleted'] as const
export type DatasetStatus = (typeof DATASET_STATUSES)[number]

/** A dataset's public, on-chain metadata. */
export type Dataset = {
  /** bytes32 chosen by the client (bound into the encryption AAD). */
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
  if (typeof id !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(id)) {
    throw new W3aError('INVALID_ARGUMENT', `dataset id must be 32 bytes of hex (0x + 64 hex digits), got ${JSON.stringify(id)}`)
  }
}
