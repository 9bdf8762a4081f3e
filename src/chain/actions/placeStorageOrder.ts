import { parseEventLogs, type Address, type Hash, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { storageMarketAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertDatasetId } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { simulateWithApprove } from '../simulate-with-approve.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type PlaceStorageOrderParameters = {
  storageMarket: Address
  datasetId: Hex
  /** The dataset's IPFS roots (CID strings) the nodes must hold. */
  roots: readonly string[]
  /** Bytes of the blocks under the roots (what nodes reserve of their capacity). */
  sizeBytes: bigint
  /** Nodes of distinct operators; 0 = the contract's default (3). */
  replication?: number
  eras: number
  /** Token base units per era; the order escrows pricePerEra × eras. */
  pricePerEra: bigint
  /** Default true: approve the contract for the escrow when the allowance is short. */
  autoApprove?: boolean
}

export type PlaceStorageOrderReturnType = WriteResult & { orderId: bigint; nodes: Address[]; escrow: bigint; approveHash?: Hash }

/**
 * Places a storage order with the wallet's account, the dataset's owner, and escrows
 * pricePerEra × eras. Simulates first: NotDatasetOwner, DatasetDeleted, NoRoots, BadRoot, ZeroSize,
 * ZeroEras, ReplicationTooHigh, NotEnoughStorageNodes, InsufficientBalance fail with TX_REVERTED
 * and nothing is sent (not even the approval).
 */
export async function placeStorageOrder(clients: WriteClients, params: PlaceStorageOrderParameters): Promise<PlaceStorageOrderReturnType> {
  const { publicClient, walletClient } = clients
  assertDatasetId(params.datasetId)
  const replication = params.replication ?? 0
  if (!Number.isInteger(replication) || replication < 0 || replication > 255) throw new W3aError('INVALID_ARGUMENT', `replication must be an integer from 0 to 255, got ${replication}`)
  if (!Number.isInteger(params.eras) || params.eras < 1 || params.eras > 0xffffffff) throw new W3aError('INVALID_ARGUMENT', `eras must be a positive integer, got ${params.eras}`)
  if (params.pricePerEra < 0n) throw new W3aError('INVALID_ARGUMENT', 'pricePerEra must not be negative')
  const read = { address: params.storageMarket, abi: storageMarketAbi } as const
  const args = [params.datasetId, [...params.roots], params.sizeBytes, replication, params.eras, params.pricePerEra] as const
  return withChainErrors(
    async () => {
      const simulate = () => publicClient.simulateContract({ ...read, functionName: 'placeOrder', args, account: walletClient.account })
      const token = () => publicClient.readContract({ ...read, functionName: 'token' })
      const { simulation, approveHash } = await simulateWithApprove(clients, { token, spender: params.storageMarket, autoApprove: params.autoApprove, simulate })
      const hash = await walletClient.writeContract(simulation.request)
      const receipt = await waitForSuccess(publicClient, hash)
      const logs = parseEventLogs({ abi: storageMarketAbi, logs: receipt.logs })
      const placed = logs.find((l) => l.eventName === 'OrderPlaced')
      if (placed?.eventName !== 'OrderPlaced') throw new W3aError('CHAIN_ERROR', `placeOrder transaction ${hash} emitted no OrderPlaced event`)
      const nodes = logs.flatMap((l) => (l.eventName === 'OrderAssigned' ? [l.args.node] : []))
      return {
        hash,
        blockNumber: receipt.blockNumber,
        orderId: placed.args.orderId,
        nodes,
        escrow: params.pricePerEra * BigInt(params.eras),
        ...(approveHash === undefined ? {} : { approveHash }),
      }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
