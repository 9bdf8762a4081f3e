import type { Address } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type PruneWorkerParameters = {
  registry: Address
  worker: Address
}

export type PruneWorkerReturnType = WriteResult

/**
 * Anyone: takes an ineligible worker (offline, build disallowed) out of the registry's active
 * sets, so that assignment (which looks at a bounded number of them) skips it for good; its next
 * heartbeat while eligible puts it back. TX_REVERTED StillEligible for an eligible worker.
 */
export async function pruneWorker({ publicClient, walletClient }: WriteClients, params: PruneWorkerParameters): Promise<PruneWorkerReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'prune',
        args: [params.worker],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      return { hash, blockNumber: receipt.blockNumber }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
