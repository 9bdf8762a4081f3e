import type { Address } from 'viem'
import { W3aError } from '../../core/errors.js'
import { storageMarketAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type RegisterStorageNodeParameters = {
  storageMarket: Address
  /** The node's worker key, registered in the WorkerRegistry with the storage role. */
  worker: Address
  /** Where the node serves `GET /ipfs/{cid}` (trustless gateway). */
  endpoint: string
  capacityBytes: bigint
}

export type RegisterStorageNodeReturnType = WriteResult

/**
 * Sent by the worker's operator: offers the worker as a storage node, or updates its endpoint and
 * capacity. NotWorkerOperator, NotStorageWorker, WorkerNotEligible, EndpointTooLong,
 * EndpointChangedThisEra (a node's endpoint changes at most once an era).
 */
export async function registerStorageNode({ publicClient, walletClient }: WriteClients, params: RegisterStorageNodeParameters): Promise<RegisterStorageNodeReturnType> {
  if (params.capacityBytes < 0n) throw new W3aError('INVALID_ARGUMENT', 'capacityBytes must not be negative')
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.storageMarket,
        abi: storageMarketAbi,
        functionName: 'registerNode',
        args: [params.worker, params.endpoint, params.capacityBytes],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      return { hash, blockNumber: receipt.blockNumber }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
