import { parseEventLogs, type Address } from 'viem'
import { jobsAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type ClaimEarningsParameters = { jobs: Address }
export type ClaimEarningsReturnType = WriteResult & { amount: bigint }

/**
 * Withdraws everything accrued to the wallet's account on the jobs contract (owner shares,
 * operator shares and fees, treasury share, refunded fees). NothingToClaim when zero.
 */
export async function claimEarnings({ publicClient, walletClient }: WriteClients, params: ClaimEarningsParameters): Promise<ClaimEarningsReturnType> {
  return withChainErrors(
    async () => {
      const { request, result } = await publicClient.simulateContract({
        address: params.jobs,
        abi: jobsAbi,
        functionName: 'claim',
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: jobsAbi, logs: receipt.logs, eventName: 'Claimed' })
      return { hash, blockNumber: receipt.blockNumber, amount: event?.args.amount ?? result }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
