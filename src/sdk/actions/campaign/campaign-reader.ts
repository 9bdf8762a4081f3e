import type { Address } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { getCampaign as getCampaignOnChain, type Campaign, type ChainPublicClient } from '../../../chain/portable.js'
import type { W3aClient } from '../../client.js'
import { chainReader } from '../../chain-reader.js'

/** The network's Campaigns contract (from its description), and a reader. */
export async function campaignsReader(client: W3aClient): Promise<{ campaigns: Address; chainId: number; publicClient: ChainPublicClient; registry: Address }> {
  const { network, publicClient } = await chainReader(client)
  return { campaigns: network.contracts.campaigns, chainId: network.chainId, publicClient, registry: network.contracts.workerRegistry }
}

/** One campaign from the chain; CAMPAIGN_NOT_FOUND for an unknown id. */
export async function readCampaign(publicClient: ChainPublicClient, campaigns: Address, id: bigint): Promise<Campaign> {
  return getCampaignOnChain(publicClient, { campaigns, campaignId: id }).catch((cause) => {
    throw new W3aError('CAMPAIGN_NOT_FOUND', `campaign ${id} does not exist on this network`, { cause, details: ['`w3a campaign ls` lists the campaigns.'] })
  })
}
