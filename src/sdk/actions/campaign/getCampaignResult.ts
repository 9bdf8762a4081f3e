import type { Campaign } from '../../../chain/portable.js'
import { verifyCampaignResult, type CampaignResult } from '../../../campaigns/result-format.js'
import type { W3aClient } from '../../client.js'
import { campaignsReader, readCampaign } from './campaign-reader.js'

export type GetCampaignResultReturnType = { campaign: Campaign; result: CampaignResult }

/**
 * A campaign's released result, fetched through the gateway from its aggregator and verified
 * here against the chain (the aggregator's signature, the output's hash, the payout list's root,
 * and the figures the contract holds). CAMPAIGN_PENDING before the deadline and until posted.
 */
export async function getCampaignResult(client: W3aClient, p: { id: bigint }): Promise<GetCampaignResultReturnType> {
  const { publicClient, campaigns, chainId } = await campaignsReader(client)
  const result = await client.gateway.getJson<CampaignResult>(`/api/v1/campaigns/${p.id}/result`)
  const campaign = await readCampaign(publicClient, campaigns, p.id)
  await verifyCampaignResult(result, campaign, { chainId, campaigns })
  return { campaign, result }
}
