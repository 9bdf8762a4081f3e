import { parseEventLogs, type Address, type Hash, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { campaignsAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import type { CampaignTerms } from '../campaigns.js'
import { assertBytes32 } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { simulateWithApprove } from '../simulate-with-approve.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

/** The terms the analyst posts (the contract adds the analyst and assigns the aggregator). */
export type CreateCampaignParameters = Omit<CampaignTerms, 'analyst' | 'aggregator'> & {
  campaigns: Address
  /** Default true: approve the contract for the escrow when the allowance is short. */
  autoApprove?: boolean
}

export type CreateCampaignReturnType = WriteResult & { campaignId: bigint; aggregator: Address; paramsHash: Hex; escrow: bigint; approveHash?: Hash }

/**
 * Posts a campaign with the wallet's account and escrows maxRespondents × rewardPerAnswer.
 * Simulates first: InvalidParameter(name), NoEligibleWorker, InsufficientBalance fail with
 * TX_REVERTED and nothing is sent (not even the approval).
 */
export async function createCampaign(clients: WriteClients, params: CreateCampaignParameters): Promise<CreateCampaignReturnType> {
  const { publicClient, walletClient } = clients
  assertBytes32(params.functionHash, 'functionHash')
  if (params.rewardPerAnswer < 0n) throw new W3aError('INVALID_ARGUMENT', 'rewardPerAnswer must not be negative')
  const read = { address: params.campaigns, abi: campaignsAbi } as const
  const { autoApprove, campaigns: _, ...p } = params
  return withChainErrors(
    async () => {
      const simulate = () => publicClient.simulateContract({ ...read, functionName: 'create', args: [p], account: walletClient.account })
      const token = () => publicClient.readContract({ ...read, functionName: 'token' })
      const { simulation, approveHash } = await simulateWithApprove(clients, { token, spender: params.campaigns, autoApprove, simulate })
      const hash = await walletClient.writeContract(simulation.request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: campaignsAbi, logs: receipt.logs, eventName: 'CampaignCreated' })
      if (event === undefined) throw new W3aError('CHAIN_ERROR', `create transaction ${hash} emitted no CampaignCreated event`)
      return {
        hash,
        blockNumber: receipt.blockNumber,
        campaignId: event.args.campaignId,
        aggregator: event.args.aggregator,
        paramsHash: event.args.paramsHash,
        escrow: event.args.escrow,
        ...(approveHash === undefined ? {} : { approveHash }),
      }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
