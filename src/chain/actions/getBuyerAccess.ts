import type { Address, Hex } from 'viem'
import { marketAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { assertDatasetId } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf } from '../write.js'

export type GetBuyerAccessParameters = {
  market: Address
  datasetId: Hex
  buyer: Address
}

export type GetBuyerAccessReturnType = {
  /** The listing is open to every buyer. */
  open: boolean
  /** The listing admits this buyer (open, admitted one by one, or the owner): Market.mayBuy. */
  admitted: boolean
}

/** The listing's access rule and whether it admits `buyer` (UnknownDataset for an unknown id). */
export async function getBuyerAccess(publicClient: ChainPublicClient, params: GetBuyerAccessParameters): Promise<GetBuyerAccessReturnType> {
  assertDatasetId(params.datasetId)
  return withChainErrors(
    async () => {
      const read = { address: params.market, abi: marketAbi } as const
      const [open, admitted] = await Promise.all([
        publicClient.readContract({ ...read, functionName: 'openToBuyers', args: [params.datasetId] }),
        publicClient.readContract({ ...read, functionName: 'mayBuy', args: [params.datasetId, params.buyer] }),
      ])
      return { open, admitted }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
