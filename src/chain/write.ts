import type { Hash, TransactionReceipt } from 'viem'
import type { ChainPublicClient } from './clients.js'
import { TxRevertedError } from './errors.js'

/** What every write action returns (actions add their own fields). */
export type WriteResult = { hash: Hash; blockNumber: bigint }

/**
 * Waits for the receipt and turns an on-chain revert into TX_REVERTED. Simulation already caught
 * reverts with their reason; this covers state that changed between simulation and inclusion.
 */
export async function waitForSuccess(publicClient: ChainPublicClient, hash: Hash): Promise<TransactionReceipt> {
  const receipt = await publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') {
    throw new TxRevertedError({ transactionHash: hash, reason: `mined in block ${receipt.blockNumber} with status ${receipt.status}` })
  }
  return receipt
}

/** The RPC URL behind a client (for error messages). */
export function rpcUrlOf(client: { transport: unknown }): string | undefined {
  const url = (client.transport as { url?: unknown }).url
  return typeof url === 'string' ? url : undefined
}
