import type { Address, Hex } from 'viem'

// The storage market's data as clients see it (contracts/StorageMarket.sol): orders, nodes and
// governance parameters, converted from the contract's structs once, here.

/** Order matches `StorageMarket.Status` (None = 0, Active = 1, Ended = 2). */
export const STORAGE_ORDER_STATUSES = ['none', 'active', 'ended'] as const
export type StorageOrderStatus = (typeof STORAGE_ORDER_STATUSES)[number]

/** Challenge reasons as the contract numbers them. */
export const CHALLENGE_REASONS = { notServed: 1, badBytes: 2 } as const
export type ChallengeReason = (typeof CHALLENGE_REASONS)[keyof typeof CHALLENGE_REASONS]

/** Governance parameters of the StorageMarket. */
export type StorageMarketParams = {
  /** Era length in blocks. */
  eraLength: bigint
  /** Failed challenges on one order that remove a node from it. */
  maxFailures: number
  /** Token base units of stake taken per failed challenge (capped at the stake). */
  challengeSlash: bigint
}

/** A storage order as the contract stores it. */
export type StorageOrder = {
  id: bigint
  datasetId: Hex
  owner: Address
  sizeBytes: bigint
  replication: number
  eras: number
  /** First paid era (the era after the one the order was placed in). */
  startEra: bigint
  /** First era not paid (exclusive); `endOrder` moves it to the era it was ended in. */
  endEra: bigint
  status: StorageOrderStatus
  /** Token base units paid per era, split among the nodes that proved the order. */
  pricePerEra: bigint
  /** Tokens still escrowed for the unsettled eras. */
  escrow: bigint
  /** The nodes (worker keys) assigned now. */
  nodes: Address[]
  /** The IPFS roots (CID strings) to store. */
  roots: string[]
}

/** A registered storage node with the registry's current verdict on it. */
export type StorageNode = {
  /** The node's worker key (its id). */
  worker: Address
  /** The account that registered it; its earnings accrue here. */
  operator: Address
  endpoint: string
  capacityBytes: bigint
  /** Bytes of the active orders assigned to it. */
  usedBytes: bigint
  /** Unix seconds. */
  registeredAt: number
  /** Failed challenges recorded against it, over all orders. */
  failures: number
  /** Eligible in the WorkerRegistry now (online, attested build allowed). */
  eligible: boolean
  /** Active orders assigned to it. */
  orderCount: number
}

type OrderStruct = {
  datasetId: Hex
  owner: Address
  sizeBytes: bigint
  replication: number
  eras: number
  startEra: bigint
  endEra: bigint
  status: number
  pricePerEra: bigint
  escrow: bigint
  nodes: readonly Address[]
  roots: readonly string[]
}

type NodeViewStruct = {
  worker: Address
  info: { operator: Address; capacityBytes: bigint; usedBytes: bigint; registeredAt: bigint; failures: number; endpoint: string }
  eligible: boolean
  orderCount: bigint
}

export function storageOrderFromStruct(id: bigint, o: OrderStruct): StorageOrder {
  return {
    id,
    datasetId: o.datasetId,
    owner: o.owner,
    sizeBytes: o.sizeBytes,
    replication: o.replication,
    eras: o.eras,
    startEra: o.startEra,
    endEra: o.endEra,
    status: STORAGE_ORDER_STATUSES[o.status] ?? 'none',
    pricePerEra: o.pricePerEra,
    escrow: o.escrow,
    nodes: [...o.nodes],
    roots: [...o.roots],
  }
}

export function storageNodeFromView(v: NodeViewStruct): StorageNode {
  return {
    worker: v.worker,
    operator: v.info.operator,
    endpoint: v.info.endpoint,
    capacityBytes: v.info.capacityBytes,
    usedBytes: v.info.usedBytes,
    registeredAt: Number(v.info.registeredAt),
    failures: v.info.failures,
    eligible: v.eligible,
    orderCount: Number(v.orderCount),
  }
}
