import type { Hash, Hex } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { buyCredits as buyCreditsOnChain, getBuyerAccess, getTokenBalance } from '../../../chain/portable.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'
import { walletFor } from '../../wallet.js'
import { requireDataset } from './dataset.js'
import { readTokenInfo, tokenAmount, type TokenAmount } from './token.js'

export type BuyCreditsParameters = {
  id: Hex
  /** Usage credits to buy (one per query), > 0. */
  credits: bigint
}

export type BuyCreditsReturnType = {
  id: Hex
  hash: Hash
  /** The token approval sent first, when the allowance was short. */
  approveHash?: Hash
  /** Credits available on this dataset now (earlier purchases included). */
  credits: bigint
  /** Tokens moved into the market's escrow. */
  cost: TokenAmount
  /** The buyer's token balance after the purchase. */
  balance: TokenAmount
}

/**
 * Buys usage credits of an active dataset: credits × price tokens go into the market's escrow
 * (approving the market first when needed). Checked before anything is sent (the market
 * enforces the same): NOT_ADMITTED when the owner's listing does not admit this buyer (nobody
 * pays for queries they may not run), INSUFFICIENT_BALANCE when they cannot pay.
 */
export async function buyCredits(client: W3aClient, params: BuyCreditsParameters): Promise<BuyCreditsReturnType> {
  const account = requireAccount(client, 'market buy')
  if (params.credits <= 0n || params.credits >= 1n << 64n) throw new W3aError('INVALID_ARGUMENT', `credits must be a positive integer, got ${params.credits}`)
  const { network, publicClient } = await chainReader(client)
  const { market, datasetRegistry, token } = network.contracts
  const [dataset, info, balance] = await Promise.all([
    requireDataset(publicClient, datasetRegistry, params.id),
    readTokenInfo(publicClient, network.chainId, token),
    getTokenBalance(publicClient, { token, account: account.address }),
  ])
  if (dataset.status === 'unlisted') {
    throw new W3aError('DATASET_NOT_LISTED', `dataset ${params.id} is not listed on the market yet: its credits are not for sale`, {
      details: ['Its owner lists it (policy first) with `w3a market list ID --price P --summary "…"`.'],
    })
  }
  if (dataset.status !== 'active') {
    throw new W3aError('DATASET_NOT_ACTIVE', `dataset ${params.id} is ${dataset.status}: its credits are not for sale now`)
  }
  const access = await getBuyerAccess(publicClient, { market, datasetId: params.id, buyer: account.address })
  if (!access.admitted) {
    throw new W3aError('NOT_ADMITTED', `dataset ${params.id} sells only to buyers its owner admitted, and ${account.address} is not one`, {
      details: [`Ask the owner (${dataset.owner}) to run \`w3a market access ${params.id} --admit ${account.address}\` (or --open).`],
    })
  }
  const cost = params.credits * dataset.pricePerQuery
  if (balance < cost) {
    const fmt = (x: bigint) => `${tokenAmount(x, info).formatted} ${info.symbol}`
    throw new W3aError('INSUFFICIENT_BALANCE', `${params.credits} credit(s) cost ${fmt(cost)}; ${account.address} holds ${fmt(balance)}`, {
      details: network.dev
        ? ['On a dev network, dev accounts 0-9 (--account N) are funded at the first `w3a up`; use one, or have one send you tokens.']
        : [`Get ${info.symbol} (token ${token}) into this account first.`],
    })
  }
  const r = await buyCreditsOnChain(walletFor(network, account), { market, datasetId: params.id, credits: params.credits })
  return {
    id: params.id,
    hash: r.hash,
    ...(r.approveHash === undefined ? {} : { approveHash: r.approveHash }),
    credits: r.credits,
    cost: tokenAmount(r.cost, info),
    balance: tokenAmount(await getTokenBalance(publicClient, { token, account: account.address, blockNumber: r.blockNumber }), info),
  }
}
