import type { Address } from 'viem'
import { getEarnings as getEarningsOnChain, getTokenBalance } from '../../../chain/portable.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'
import { readTokenInfo, tokenAmount, type TokenAmount } from './token.js'

export type GetEarningsParameters = {
  /** Default: the client's account. */
  account?: Address
}

export type GetEarningsReturnType = {
  account: Address
  /** What `claimEarnings` would pay now: owner shares, worker shares and fees, refunds. */
  claimable: TokenAmount
  /** Tokens already in the account. */
  balance: TokenAmount
}

/** What an account has earned on the jobs contract and can claim, and its token balance. */
export async function getEarnings(client: W3aClient, params: GetEarningsParameters = {}): Promise<GetEarningsReturnType> {
  const account = params.account ?? requireAccount(client, 'earnings').address
  const { network, publicClient } = await chainReader(client)
  const { jobs, token } = network.contracts
  const blockNumber = await publicClient.getBlockNumber({ cacheTime: 0 }) // both amounts at one block
  const [info, claimable, balance] = await Promise.all([
    readTokenInfo(publicClient, network.chainId, token),
    getEarningsOnChain(publicClient, { jobs, account, blockNumber }),
    getTokenBalance(publicClient, { token, account, blockNumber }),
  ])
  return { account, claimable: tokenAmount(claimable, info), balance: tokenAmount(balance, info) }
}
