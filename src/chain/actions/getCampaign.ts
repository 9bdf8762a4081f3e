import type { Address } from 'viem'
import { campaignsAbi } from '../abis.js'
import { campaignFromStruct, type Campaign } from '../campaigns.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf } from '../write.js'

export type GetCampaignParameters = { campaigns: Address; campaignId: bigint; blockNumber?: bigint }
export type GetCampaignReturnType = Campaign

/** One campaign. An unknown id fails with TX_REVERTED "UnknownCampaign". */
export async function getCampaign(publicClient: ChainPublicClient, params: GetCampaignParameters): Promise<GetCampaignReturnType> {
  return withChainErrors(
    async () => {
      const c = await publicClient.readContract({
        address: params.campaigns,
        abi: campaignsAbi,
        functionName: 'getCampaign',
        args: [params.campaignId],
        ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
      })
      return campaignFromStruct(params.campaignId, c)
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
