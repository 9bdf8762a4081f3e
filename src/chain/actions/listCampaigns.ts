import type { Address } from 'viem'
import { campaignsAbi } from '../abis.js'
import { campaignFromStruct, type Campaign, type CampaignStatus } from '../campaigns.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf } from '../write.js'

export type ListCampaignsParameters = {
  campaigns: Address
  analyst?: Address
  aggregator?: Address
  status?: CampaignStatus | readonly CampaignStatus[]
  /** Campaigns read per call (default 100). */
  pageSize?: number
}

export type ListCampaignsReturnType = Campaign[]

/** Every campaign matching the filters, in id order (pages of one block; filters applied client side). */
export async function listCampaigns(publicClient: ChainPublicClient, params: ListCampaignsParameters): Promise<ListCampaignsReturnType> {
  const page = BigInt(Math.max(1, params.pageSize ?? 100))
  const statuses = params.status === undefined ? undefined : new Set<CampaignStatus>(typeof params.status === 'string' ? [params.status] : params.status)
  const eq = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()
  return withChainErrors(
    async () => {
      const blockNumber = await publicClient.getBlockNumber({ cacheTime: 0 })
      const read = { address: params.campaigns, abi: campaignsAbi, blockNumber } as const
      const count = await publicClient.readContract({ ...read, functionName: 'campaignCount' })
      const out: Campaign[] = []
      for (let offset = 0n; offset < count; offset += page) {
        const items = await publicClient.readContract({ ...read, functionName: 'slice', args: [offset, page] })
        items.forEach((s, i) => {
          const c = campaignFromStruct(offset + BigInt(i), s)
          if (params.analyst !== undefined && !eq(c.analyst, params.analyst)) return
          if (params.aggregator !== undefined && !eq(c.aggregator, params.aggregator)) return
          if (statuses && !statuses.has(c.status)) return
          out.push(c)
        })
      }
      return out
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
