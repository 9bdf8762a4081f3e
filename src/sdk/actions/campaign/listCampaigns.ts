import type { Address } from 'viem'
import { listCampaigns as listOnChain, type Campaign, type CampaignStatus } from '../../../chain/portable.js'
import type { W3aClient } from '../../client.js'
import { campaignsReader, readCampaign } from './campaign-reader.js'

export type ListCampaignsParameters = { analyst?: Address; status?: CampaignStatus | readonly CampaignStatus[] }

/** The network's campaigns (public terms and status), in id order. */
export async function listCampaigns(client: W3aClient, p: ListCampaignsParameters = {}): Promise<Campaign[]> {
  const { publicClient, campaigns } = await campaignsReader(client)
  return listOnChain(publicClient, { campaigns, ...(p.analyst ? { analyst: p.analyst } : {}), ...(p.status ? { status: p.status } : {}) })
}

/** One campaign; CAMPAIGN_NOT_FOUND for an unknown id. */
export async function getCampaign(client: W3aClient, p: { id: bigint }): Promise<Campaign> {
  const { publicClient, campaigns } = await campaignsReader(client)
  return readCampaign(publicClient, campaigns, p.id)
}
