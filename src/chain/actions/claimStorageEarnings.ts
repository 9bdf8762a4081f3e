import { parseEventLogs, type Address } from 'viem'
import { storageMarketAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type ClaimStorageEarningsParameters = { storageMarket: Address }
export type ClaimStorageEarningsReturnType = WriteResult & { amount: bigint }

/**
 * Withdraws everything accrued to the wallet's account on the storage market (node operators'
 * rewards, owners' unpaid shares). NothingToClaim when zero.
 */
export async function claimStorageEarnings({ publicClient, walletClient }: WriteClients, params: ClaimStorageEarningsParameters): Promise<ClaimStorageEarningsReturnType> {
  return withChainErrors(
    async () => {
      const { request, result } = await publicClient.simulateContract({
        address: params.storageMarket,
        abi: storageMarketAbi,
        functionName: 'claimStorageEarnings',
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: storageMarketAbi, logs: receipt.logs, eventName: 'Claimed' })
      return { hash, blockNumber: receipt.blockNumber, amount: event?.args.amount ?? result }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
