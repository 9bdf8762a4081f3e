import type { Address, Hex } from 'viem'
import { marketAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { assertDatasetId } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf } from '../write.js'

export type GetCreditsParameters = {
  market: Address
  analyst: Address
  datasetId: Hex
  blockNumber?: bigint
}

export type GetCreditsReturnType = {
  /** Credits available for new jobs (never expire). */
  credits: bigint
  /** Credits held by open jobs. */
  reserved: bigint
  /** Tokens escrowed for the available credits. */
  escrow: bigint
}

/** The analyst's usage credits on one dataset. */
export async function getCredits(publicClient: ChainPublicClient, params: GetCreditsParameters): Promise<GetCreditsReturnType> {
  assertDatasetId(params.datasetId)
  return withChainErrors(
    async () => {
      const a = await publicClient.readContract({
        address: params.market,
        abi: marketAbi,
        functionName: 'accountOf',
        args: [params.analyst, params.datasetId],
        ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
      })
      return { credits: a.credits, reserved: a.reserved, escrow: a.escrow }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
