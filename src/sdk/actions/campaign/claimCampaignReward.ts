import type { Address, Hash } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { claimCampaignReward as claimOnChain, TxRevertedError } from '../../../chain/portable.js'
import { payoutProof } from '../../../campaigns/payout-tree.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { walletFor } from '../../wallet.js'
import { chainReader } from '../../chain-reader.js'
import { getCampaignResult } from './getCampaignResult.js'

export type ClaimCampaignRewardParameters = { id: bigint; /** The payout address (default the client's account). */ payout?: Address }
export type ClaimCampaignRewardReturnType = { id: bigint; payout: Address; amount: bigint; hash: Hash }

/**
 * Pays a counted respondent's reward to their payout address: the proof is computed from the
 * verified result's payout list; the client's account only sends the transaction.
 * CAMPAIGN_NOT_COUNTED when the address's answer did not count; NOTHING_TO_CLAIM when paid already.
 */
export async function claimCampaignReward(client: W3aClient, p: ClaimCampaignRewardParameters): Promise<ClaimCampaignRewardReturnType> {
  const account = requireAccount(client, 'campaign claim')
  const payout = p.payout ?? account.address
  const { result, campaign } = await getCampaignResult(client, { id: p.id })
  if (campaign.status !== 'released') throw new W3aError('CAMPAIGN_NOT_COUNTED', `campaign ${p.id} released nothing (${campaign.status}): there is no reward to claim`)
  const proof = payoutProof(campaign.id, result.payouts, payout)
  const { network } = await chainReader(client)
  try {
    const r = await claimOnChain(walletFor(network, account), { campaigns: network.contracts.campaigns, campaignId: p.id, account: payout, proof })
    return { id: p.id, payout, amount: r.amount, hash: r.hash }
  } catch (e) {
    if (e instanceof TxRevertedError && e.errorName === 'AlreadyClaimed') throw new W3aError('NOTHING_TO_CLAIM', `${payout}'s reward for campaign ${p.id} was claimed already`, { cause: e })
    throw e
  }
}
