import { parseEventLogs, type Address } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type PruneWorkersParameters = {
  registry: Address
  /** Workers to take out when ineligible (eligible ones are skipped). */
  workers: readonly Address[]
}

export type PruneWorkersReturnType = WriteResult & { /** How many left the active sets. */ pruned: number }

/**
 * Anyone: takes an ineligible worker (offline, build disallowed) out of the registry's active
 * sets, so that assignment (which looks at a bounded number of them) skips it for good; its next
 * heartbeat while eligible puts it back. Eligible workers in the list are skipped.
 */
export async function pruneWorkers({ publicClient, walletClient }: WriteClients, params: PruneWorkersParameters): Promise<PruneWorkersReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'prune',
        args: [[...params.workers]],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const pruned = parseEventLogs({ abi: workerRegistryAbi, logs: receipt.logs, eventName: 'WorkerPruned' }).length
      return { hash, blockNumber: receipt.blockNumber, pruned }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
