import type { Address, Hex } from 'viem'
import { marketAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertDatasetId } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SetBuyerAccessParameters = {
  market: Address
  datasetId: Hex
} & (
  | /** true: every buyer may buy (and query); false: only buyers admitted one by one. */ { open: boolean }
  | /** Admits one buyer (true) or no longer (false). */ { buyer: Address; admitted: boolean }
)

export type SetBuyerAccessReturnType = WriteResult

/**
 * Dataset owner only (TX_REVERTED NotDatasetOwner; DatasetDeleted, ZeroAddress): the listing's
 * public access rule (Market.setBuyerAccess), or one buyer's admission (Market.setBuyer). Keepers
 * count what the listing admits as access, so it is a promise to buyers.
 */
export async function setBuyerAccess({ publicClient, walletClient }: WriteClients, params: SetBuyerAccessParameters): Promise<SetBuyerAccessReturnType> {
  assertDatasetId(params.datasetId)
  const base = { address: params.market, abi: marketAbi, account: walletClient.account } as const
  return withChainErrors(
    async () => {
      const hash =
        'open' in params
          ? await walletClient.writeContract((await publicClient.simulateContract({ ...base, functionName: 'setBuyerAccess', args: [params.datasetId, params.open] })).request)
          : await walletClient.writeContract((await publicClient.simulateContract({ ...base, functionName: 'setBuyer', args: [params.datasetId, params.buyer, params.admitted] })).request)
      const receipt = await waitForSuccess(publicClient, hash)
      return { hash, blockNumber: receipt.blockNumber }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
