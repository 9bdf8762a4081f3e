import type { Address } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SlashWorkerParameters = {
  registry: Address
  worker: Address
  /** Token base units taken from the stake (at most the stake; 0 only marks the worker slashed). */
  amount: bigint
  /** Public reason, in the WorkerSlashed event. */
  reason: string
}

export type SlashWorkerReturnType = WriteResult & { worker: Address; amount: bigint }

/**
 * Slashers only (TX_REVERTED "NotSlasher"): moves `amount` of the stake to governance and makes
 * the worker ineligible for good.
 */
export async function slashWorker({ publicClient, walletClient }: WriteClients, params: SlashWorkerParameters): Promise<SlashWorkerReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'slash',
        args: [params.worker, params.amount, params.reason],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      return { hash, blockNumber: receipt.blockNumber, worker: params.worker, amount: params.amount }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
