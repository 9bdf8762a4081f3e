import { parseEventLogs, type Address, type Hex } from 'viem'
import { campaignsAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type ClaimCampaignRewardParameters = { campaigns: Address; campaignId: bigint; account: Address; proof: Hex[] }
export type ClaimCampaignRewardReturnType = WriteResult & { amount: bigint }

/**
 * Pays `account` its reward for a counted answer (the wallet only sends it: the tokens go to
 * `account`). NotReleased, AlreadyClaimed, NotCounted (a proof that does not lead to the root).
 */
export async function claimCampaignReward({ publicClient, walletClient }: WriteClients, params: ClaimCampaignRewardParameters): Promise<ClaimCampaignRewardReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.campaigns,
        abi: campaignsAbi,
        functionName: 'claim',
        args: [params.campaignId, params.account, params.proof],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: campaignsAbi, logs: receipt.logs, eventName: 'RewardClaimed' })
      return { hash, blockNumber: receipt.blockNumber, amount: event?.args.amount ?? 0n }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
