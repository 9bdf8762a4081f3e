import type { Hash, Hex } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { getBuyerAccess, getCredits, refundCredits as refundCreditsOnChain } from '../../../chain/portable.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'
import { walletFor } from '../../wallet.js'
import { requireDataset } from './dataset.js'
import { readTokenInfo, tokenAmount, type TokenAmount } from './token.js'

export type RefundCreditsParameters = { id: Hex }

export type RefundCreditsReturnType = {
  id: Hex
  hash: Hash
  /** Unused credits given back. */
  credits: bigint
  /** Tokens returned from escrow. */
  amount: TokenAmount
  /** Credits still held by open jobs (refundable once they come back). */
  reserved: bigint
}

/**
 * Analyst: withdraws the escrow of their unused credits on a dataset that no longer sells to
 * them (paused, deleted, unlisted, or its listing no longer admits them). Checked before
 * anything is sent: STILL_ON_SALE while the dataset is active and admits them (credits never
 * expire: use them), NO_CREDITS when there is nothing to refund.
 */
export async function refundCredits(client: W3aClient, params: RefundCreditsParameters): Promise<RefundCreditsReturnType> {
  const account = requireAccount(client, 'market refund')
  const { network, publicClient } = await chainReader(client)
  const { market, datasetRegistry, token } = network.contracts
  const [dataset, info, held, access] = await Promise.all([
    requireDataset(publicClient, datasetRegistry, params.id),
    readTokenInfo(publicClient, network.chainId, token),
    getCredits(publicClient, { market, analyst: account.address, datasetId: params.id }),
    getBuyerAccess(publicClient, { market, datasetId: params.id, buyer: account.address }),
  ])
  if (dataset.status === 'active' && access.admitted) {
    throw new W3aError('STILL_ON_SALE', `dataset ${params.id} is active and admits ${account.address}: its credits are for use, not refund`, {
      details: ['Credits are refundable once the dataset is paused, deleted or unlisted, or its owner no longer admits you.'],
    })
  }
  if (held.credits === 0n) {
    throw new W3aError('NO_CREDITS', `${account.address} holds no unused credit on ${params.id}`, {
      details: held.reserved > 0n ? [`${held.reserved} credit(s) are held by open jobs; they become refundable if those jobs fail or time out.`] : [],
    })
  }
  const r = await refundCreditsOnChain(walletFor(network, account), { market, datasetId: params.id })
  return { id: params.id, hash: r.hash, credits: r.credits, amount: tokenAmount(r.amount, info), reserved: held.reserved }
}
