import { type Address } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type HeartbeatParameters = {
  /** WorkerRegistry address. */
  registry: Address
}

export type HeartbeatReturnType = WriteResult & { worker: Address; /** Block timestamp (Unix seconds). */ timestamp: number }

/**
 * Liveness signal; the wallet's account must be the worker key itself (it pays the gas).
 * TX_REVERTED "NotActiveWorker" for an unknown, exiting or slashed worker.
 */
export async function heartbeat({ publicClient, walletClient }: WriteClients, params: HeartbeatParameters): Promise<HeartbeatReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'heartbeat',
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const block = await publicClient.getBlock({ blockNumber: receipt.blockNumber })
      return { hash, blockNumber: receipt.blockNumber, worker: walletClient.account.address, timestamp: Number(block.timestamp) }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
