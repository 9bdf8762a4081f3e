import { parseEventLogs, type Address, type Hex } from 'viem'
import { campaignsAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertBytes32 } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SubmitCampaignResultParameters = {
  campaigns: Address
  campaignId: bigint
  outputHash: Hex
  counted: number
  payoutRoot: Hex
  /** The aggregator worker key's EIP-191 signature over Campaigns.resultDigest. */
  signature: Hex
}

export type SubmitCampaignResultReturnType = WriteResult & { released: boolean; refund: bigint }

/**
 * Posts an aggregator's signed result (any account may send it: the signature is what counts).
 * DeadlineNotReached before the deadline, BadResultSignature for anyone's but the assigned
 * aggregator's, CampaignNotOpen once a result was posted.
 */
export async function submitCampaignResult({ publicClient, walletClient }: WriteClients, params: SubmitCampaignResultParameters): Promise<SubmitCampaignResultReturnType> {
  assertBytes32(params.outputHash, 'outputHash')
  assertBytes32(params.payoutRoot, 'payoutRoot')
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.campaigns,
        abi: campaignsAbi,
        functionName: 'submitResult',
        args: [params.campaignId, params.outputHash, params.counted, params.payoutRoot, params.signature],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [released] = parseEventLogs({ abi: campaignsAbi, logs: receipt.logs, eventName: 'CampaignReleased' })
      const [below] = parseEventLogs({ abi: campaignsAbi, logs: receipt.logs, eventName: 'CampaignBelowMinimum' })
      return { hash, blockNumber: receipt.blockNumber, released: released !== undefined, refund: released?.args.refund ?? below?.args.refund ?? 0n }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
