import type { Address } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { workerFromView, type WorkerInfo } from '../worker.js'
import { rpcUrlOf } from '../write.js'

export type GetWorkerParameters = {
  registry: Address
  worker: Address
  /** Read at this block (default: latest). */
  blockNumber?: bigint
}

export type GetWorkerReturnType = WorkerInfo

/**
 * One worker with the registry's verdict (online, eligible, measurement allowed, active keeper).
 * A worker never registered fails with TX_REVERTED "UnknownWorker".
 */
export async function getWorker(publicClient: ChainPublicClient, params: GetWorkerParameters): Promise<GetWorkerReturnType> {
  return withChainErrors(
    async () => {
      const v = await publicClient.readContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'viewWorker',
        args: [params.worker],
        ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
      })
      return workerFromView(v)
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
