import { encodeAbiParameters, keccak256, toBytes, type Address, type Hex, type LocalAccount } from 'viem'
import { assertBytes32 } from './dataset.js'
import type { ChallengeReason } from './storage.js'

// Byte-level helpers of the storage protocol. workReportDigest / challengeDigest match
// StorageMarket.workReportDigest / challengeDigest byte for byte (tested against the contract):
//   keccak256(abi.encode(string tag, uint256 chainId, address storageMarket, struct))
// with the struct encoded as one tuple, fields in declaration order (docs/formats.md). Enclaves
// sign them with EIP-191 (`signMessage({ message: { raw: digest } })`).

export const WORK_REPORT_TAG = 'w3a.storage-report.v1'
export const CHALLENGE_TAG = 'w3a.storage-challenge.v2'

/** Which contract and chain a report or challenge is for (part of every digest). */
export type StorageDomain = { chainId: number | bigint; storageMarket: Address }

/** A node's signed statement for one era (`StorageMarket.WorkReport`). */
export type WorkReport = {
  /** The node's worker key. */
  node: Address
  era: bigint
  /** Merkle root over the CIDs held. */
  heldRoot: Hex
  bytesHeld: bigint
  blocksSampled: number
  /** Sampled blocks the enclave could not re-hash: above 0, the report proves nothing. */
  blocksFailed: number
  addedRoot: Hex
  droppedRoot: Hex
  /** The orders the report proves. */
  orderIds: readonly bigint[]
}

/** A challenger's signed statement that a node failed to serve a block (`StorageMarket.Challenge`). */
export type StorageChallenge = {
  node: Address
  orderId: bigint
  cid: string
  era: bigint
  /** Unix seconds. */
  issuedAt: bigint
  deadline: bigint
  reason: ChallengeReason
  /** keccak256 of the endpoint string fetched from (`endpointHash`): the chain takes only the node's registered one. */
  endpointHash: Hex
}

const WORK_REPORT_TUPLE = {
  type: 'tuple',
  components: [
    { name: 'node', type: 'address' },
    { name: 'era', type: 'uint64' },
    { name: 'heldRoot', type: 'bytes32' },
    { name: 'bytesHeld', type: 'uint64' },
    { name: 'blocksSampled', type: 'uint32' },
    { name: 'blocksFailed', type: 'uint32' },
    { name: 'addedRoot', type: 'bytes32' },
    { name: 'droppedRoot', type: 'bytes32' },
    { name: 'orderIds', type: 'uint256[]' },
  ],
} as const

const CHALLENGE_TUPLE = {
  type: 'tuple',
  components: [
    { name: 'node', type: 'address' },
    { name: 'orderId', type: 'uint256' },
    { name: 'cid', type: 'string' },
    { name: 'era', type: 'uint64' },
    { name: 'issuedAt', type: 'uint64' },
    { name: 'deadline', type: 'uint64' },
    { name: 'reason', type: 'uint8' },
    { name: 'endpointHash', type: 'bytes32' },
  ],
} as const

const DOMAIN = [{ type: 'string' }, { type: 'uint256' }, { type: 'address' }] as const

export function workReportDigest(d: StorageDomain, r: WorkReport): Hex {
  for (const k of ['heldRoot', 'addedRoot', 'droppedRoot'] as const) assertBytes32(r[k], k)
  return keccak256(encodeAbiParameters([...DOMAIN, WORK_REPORT_TUPLE], [WORK_REPORT_TAG, BigInt(d.chainId), d.storageMarket, r]))
}

export function challengeDigest(d: StorageDomain, c: StorageChallenge): Hex {
  assertBytes32(c.endpointHash, 'endpointHash')
  return keccak256(encodeAbiParameters([...DOMAIN, CHALLENGE_TUPLE], [CHALLENGE_TAG, BigInt(d.chainId), d.storageMarket, c]))
}

/** What a challenge names as the endpoint it fetched from: keccak256 of the endpoint string, exactly as registered. */
export function endpointHash(endpoint: string): Hex {
  return keccak256(toBytes(endpoint))
}

/** The node's worker key signs its report (EIP-191 over workReportDigest). */
export async function signWorkReport(account: Pick<LocalAccount, 'signMessage'>, d: StorageDomain, r: WorkReport): Promise<Hex> {
  return account.signMessage({ message: { raw: workReportDigest(d, r) } })
}

/** The challenger's worker key signs the failed challenge (EIP-191 over challengeDigest). */
export async function signChallenge(account: Pick<LocalAccount, 'signMessage'>, d: StorageDomain, c: StorageChallenge): Promise<Hex> {
  return account.signMessage({ message: { raw: challengeDigest(d, c) } })
}
