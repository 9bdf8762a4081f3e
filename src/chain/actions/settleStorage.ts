import { parseEventLogs, type Address } from 'viem'
import { W3aError } from '../../core/errors.js'
import { storageMarketAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SettleStorageParameters = { storageMarket: Address; orderId: bigint; era: bigint }

export type SettleStorageReturnType = WriteResult & {
  /** The era's price plus the dataset's job credits taken (when anyone proved). */
  amount: bigint
  /** Nodes paid (proved the order that era and failed no challenge for it). */
  provers: bigint
  perNode: bigint
}

/**
 * Credits one era of an order to the nodes that proved it (any account may send it): the rest
 * accrues to the order's owner. EraNotSettleable (outside the order's eras, or the era's report
 * window, that era and the next, not over yet), AlreadySettled.
 */
export async function settleStorage({ publicClient, walletClient }: WriteClients, params: SettleStorageParameters): Promise<SettleStorageReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.storageMarket,
        abi: storageMarketAbi,
        functionName: 'settle',
        args: [params.orderId, params.era],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: storageMarketAbi, logs: receipt.logs, eventName: 'Settled' })
      if (event === undefined) throw new W3aError('CHAIN_ERROR', `settle transaction ${hash} emitted no Settled event`)
      return { hash, blockNumber: receipt.blockNumber, amount: event.args.amount, provers: event.args.provers, perNode: event.args.perNode }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
