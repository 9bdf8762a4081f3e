import { keccak256, stringToHex, type Address, type Hex } from 'viem'
import { marketAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertDatasetId } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SetPolicySummaryParameters = {
  market: Address
  datasetId: Hex
  /** Public summary of the dataset's policy, ≤ 1024 bytes (UTF-8). */
  summary: string
}

export type SetPolicySummaryReturnType = WriteResult & { summaryHash: Hex }

/**
 * Dataset owner only (TX_REVERTED NotDatasetOwner; DatasetDeleted, PolicySummaryTooLong):
 * publishes the dataset's public policy summary on the market.
 */
export async function setPolicySummary({ publicClient, walletClient }: WriteClients, params: SetPolicySummaryParameters): Promise<SetPolicySummaryReturnType> {
  assertDatasetId(params.datasetId)
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.market,
        abi: marketAbi,
        functionName: 'setPolicySummary',
        args: [params.datasetId, params.summary],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      return { hash, blockNumber: receipt.blockNumber, summaryHash: keccak256(stringToHex(params.summary)) }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
