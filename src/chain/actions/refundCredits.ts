import { parseEventLogs, type Address, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { marketAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertDatasetId } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type RefundCreditsParameters = {
  /** Market address. */
  market: Address
  datasetId: Hex
}

export type RefundCreditsReturnType = WriteResult & {
  /** Unused credits given back. */
  credits: bigint
  /** Token base units returned from escrow to the analyst. */
  amount: bigint
}

/**
 * Analyst: takes back the escrow of their unused credits on a dataset that no longer sells to
 * them (paused, deleted, unlisted, or its listing no longer admits them). Simulates first:
 * StillOnSale, NoCredits, UnknownDataset fail with TX_REVERTED and nothing is sent. Credits
 * reserved by open jobs stay until those jobs end.
 */
export async function refundCredits({ publicClient, walletClient }: WriteClients, params: RefundCreditsParameters): Promise<RefundCreditsReturnType> {
  assertDatasetId(params.datasetId)
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.market,
        abi: marketAbi,
        functionName: 'refund',
        args: [params.datasetId],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: marketAbi, logs: receipt.logs, eventName: 'CreditsRefunded' })
      if (event === undefined) throw new W3aError('CHAIN_ERROR', `refund transaction ${hash} emitted no CreditsRefunded event`)
      return { hash, blockNumber: receipt.blockNumber, credits: event.args.credits, amount: event.args.amount }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
