import { parseEventLogs, type Address } from 'viem'
import { W3aError } from '../../core/errors.js'
import { storageMarketAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type EndStorageOrderParameters = { storageMarket: Address; orderId: bigint }
export type EndStorageOrderReturnType = WriteResult & {
  /** Escrow sent back to the order's owner (the eras from the current one on). */
  refund: bigint
}

/**
 * Ends a storage order at the current era: by its owner at any time, by anyone once the dataset
 * is deleted or the order's eras are over. OrderNotActive, NotOrderOwner.
 */
export async function endStorageOrder({ publicClient, walletClient }: WriteClients, params: EndStorageOrderParameters): Promise<EndStorageOrderReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.storageMarket,
        abi: storageMarketAbi,
        functionName: 'endOrder',
        args: [params.orderId],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: storageMarketAbi, logs: receipt.logs, eventName: 'OrderEnded' })
      if (event === undefined) throw new W3aError('CHAIN_ERROR', `endOrder transaction ${hash} emitted no OrderEnded event`)
      return { hash, blockNumber: receipt.blockNumber, refund: event.args.refund }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
