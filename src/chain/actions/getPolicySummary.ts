import type { Address, Hex } from 'viem'
import { marketAbi } from '../abis.js'
import { assertDatasetId } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import type { ChainReadClient } from '../read-client.js'
import { rpcUrlOf } from '../write.js'

export type GetPolicySummaryParameters = { market: Address; datasetId: Hex; blockNumber?: bigint }

/** The summary ('' when none was set) and its keccak256. */
export type GetPolicySummaryReturnType = { summary: string; summaryHash: Hex }

/** The dataset's public policy summary as published by its owner. */
export async function getPolicySummary(publicClient: ChainReadClient, params: GetPolicySummaryParameters): Promise<GetPolicySummaryReturnType> {
  assertDatasetId(params.datasetId)
  return withChainErrors(
    async () => {
      const at = params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }
      const read = { address: params.market, abi: marketAbi, args: [params.datasetId] } as const
      const [summary, summaryHash] = await Promise.all([
        publicClient.readContract({ ...read, functionName: 'policySummary', ...at }),
        publicClient.readContract({ ...read, functionName: 'policySummaryHash', ...at }),
      ])
      return { summary, summaryHash }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
