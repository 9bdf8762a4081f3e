import { parseEventLogs, type Address } from 'viem'
import { storageMarketAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type RepairStorageOrderParameters = { storageMarket: Address; orderId: bigint }
export type RepairStorageOrderReturnType = WriteResult & { assigned: Address[] }

/**
 * Tries again to bring an under-replicated active order to full replication (any account).
 * OrderNotActive. `assigned` is empty when still nobody fits.
 */
export async function repairStorageOrder({ publicClient, walletClient }: WriteClients, params: RepairStorageOrderParameters): Promise<RepairStorageOrderReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.storageMarket,
        abi: storageMarketAbi,
        functionName: 'repair',
        args: [params.orderId],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const assigned = parseEventLogs({ abi: storageMarketAbi, logs: receipt.logs, eventName: 'OrderAssigned' }).map((e) => e.args.node)
      return { hash, blockNumber: receipt.blockNumber, assigned }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
