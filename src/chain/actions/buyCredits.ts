import { parseEventLogs, type Address, type Hash, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { marketAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertDatasetId } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { simulateWithApprove } from '../simulate-with-approve.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type BuyCreditsParameters = {
  /** Market address. */
  market: Address
  datasetId: Hex
  /** Number of usage credits (one per query), > 0. */
  credits: bigint
  /** Default true: approve the market for the cost when the allowance is short. */
  autoApprove?: boolean
}

export type BuyCreditsReturnType = WriteResult & {
  /** Token base units moved into escrow (credits × pricePerQuery at purchase). */
  cost: bigint
  /** Credits available to the buyer on this dataset after the purchase. */
  credits: bigint
  /** The approval transaction, when one was needed. */
  approveHash?: Hash
}

/**
 * Buys usage credits of an Active dataset with the wallet's account: the tokens go into the
 * market's escrow. Simulates first: DatasetNotActive, UnknownDataset, ZeroCredits,
 * InsufficientBalance fail with TX_REVERTED and nothing is sent (not even the approval).
 */
export async function buyCredits(clients: WriteClients, params: BuyCreditsParameters): Promise<BuyCreditsReturnType> {
  const { publicClient, walletClient } = clients
  assertDatasetId(params.datasetId)
  if (params.credits <= 0n) throw new W3aError('INVALID_ARGUMENT', `credits must be positive, got ${params.credits}`)
  const analyst = walletClient.account.address
  const rpcUrl = rpcUrlOf(publicClient)
  const read = { address: params.market, abi: marketAbi } as const
  return withChainErrors(
    async () => {
      const simulate = () =>
        publicClient.simulateContract({ ...read, functionName: 'buyCredits', args: [params.datasetId, params.credits], account: walletClient.account })
      // The market checks the allowance after every other condition: approve, then retry.
      const token = () => publicClient.readContract({ ...read, functionName: 'token' })
      const { simulation, approveHash } = await simulateWithApprove(clients, { token, spender: params.market, autoApprove: params.autoApprove, simulate })
      const hash = await walletClient.writeContract(simulation.request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: marketAbi, logs: receipt.logs, eventName: 'CreditsPurchased' })
      const credits = await publicClient.readContract({ ...read, functionName: 'creditsOf', args: [analyst, params.datasetId], blockNumber: receipt.blockNumber })
      return {
        hash,
        blockNumber: receipt.blockNumber,
        cost: event?.args.cost ?? 0n,
        credits,
        ...(approveHash === undefined ? {} : { approveHash }),
      }
    },
    { rpcUrl },
  )
}
