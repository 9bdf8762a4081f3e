import type { Address, Hash } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { claimStorageEarnings as claimOnChain, getStorageEarnings as readOnChain, TxRevertedError } from '../../../chain/portable.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { chainReader } from '../../chain-reader.js'
import { cliHint } from '../../cli-hint.js'
import { walletFor } from '../../wallet.js'
import { readTokenInfo, tokenAmount, type TokenAmount } from '../market/token.js'

export type GetStorageEarningsParameters = {
  /** Default: the client's account. */
  account?: Address
}
export type GetStorageEarningsReturnType = { account: Address; claimable: TokenAmount }

/** What an account can claim on the storage market: node operators' rewards, owners' unpaid shares. */
export async function getStorageEarnings(client: W3aClient, params: GetStorageEarningsParameters = {}): Promise<GetStorageEarningsReturnType> {
  const account = params.account ?? requireAccount(client, 'storage earnings').address
  const { network, publicClient } = await chainReader(client)
  const [info, claimable] = await Promise.all([
    readTokenInfo(publicClient, network.chainId, network.contracts.token),
    readOnChain(publicClient, { storageMarket: network.contracts.storageMarket, account }),
  ])
  return { account, claimable: tokenAmount(claimable, info) }
}

export type ClaimStorageEarningsReturnType = { account: Address; hash: Hash; claimed: TokenAmount }

function nothingToClaim(account: Address, cause?: unknown): W3aError {
  return new W3aError('NOTHING_TO_CLAIM', `${account} has nothing to claim on the storage market`, {
    details: [`Storage rewards accrue when an era of an order your nodes proved is settled; \`${cliHint('w3a storage earnings', account)}\` shows them.`],
    cause,
  })
}

/** Transfers everything the client's account earned on the storage market to it. NOTHING_TO_CLAIM when zero (no transaction). */
export async function claimStorageEarnings(client: W3aClient): Promise<ClaimStorageEarningsReturnType> {
  const account = requireAccount(client, 'storage claim')
  const { network, publicClient } = await chainReader(client)
  const storageMarket = network.contracts.storageMarket
  if ((await readOnChain(publicClient, { storageMarket, account: account.address })) === 0n) throw nothingToClaim(account.address)
  try {
    const r = await claimOnChain(walletFor(network, account), { storageMarket })
    return { account: account.address, hash: r.hash, claimed: tokenAmount(r.amount, await readTokenInfo(publicClient, network.chainId, network.contracts.token)) }
  } catch (e) {
    if (e instanceof TxRevertedError && e.errorName === 'NothingToClaim') throw nothingToClaim(account.address, e)
    throw e
  }
}
