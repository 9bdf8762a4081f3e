import type { Address, Hex } from 'viem'
import { getCredits as getCreditsOnChain } from '../../../chain/portable.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'
import { requireDataset } from './dataset.js'
import { readTokenInfo, tokenAmount, type TokenAmount } from './token.js'

export type GetCreditsParameters = {
  id: Hex
  /** Default: the client's account. */
  analyst?: Address
}

export type GetCreditsReturnType = {
  id: Hex
  analyst: Address
  /** Credits available for new queries (they never expire). */
  credits: bigint
  /** Credits held by open jobs (they come back if the job fails or times out). */
  reserved: bigint
  /** Tokens in escrow for the available credits. */
  escrow: TokenAmount
}

/** An analyst's usage credits on one dataset. */
export async function getCredits(client: W3aClient, params: GetCreditsParameters): Promise<GetCreditsReturnType> {
  const analyst = params.analyst ?? requireAccount(client, 'market credits').address
  const { network, publicClient } = await chainReader(client)
  const { market, datasetRegistry, token } = network.contracts
  const [, info, c] = await Promise.all([
    requireDataset(publicClient, datasetRegistry, params.id),
    readTokenInfo(publicClient, network.chainId, token),
    getCreditsOnChain(publicClient, { market, analyst, datasetId: params.id }),
  ])
  return { id: params.id, analyst, credits: c.credits, reserved: c.reserved, escrow: tokenAmount(c.escrow, info) }
}
