import type { Address, Hash } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { claimEarnings as claimEarningsOnChain, getEarnings, TxRevertedError } from '../../../chain/portable.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'
import { cliHint } from '../../cli-hint.js'
import { walletFor } from '../../wallet.js'
import { readTokenInfo, tokenAmount, type TokenAmount } from './token.js'

export type ClaimEarningsReturnType = { account: Address; hash: Hash; claimed: TokenAmount }

function nothingToClaim(account: Address, cause?: unknown): W3aError {
  return new W3aError('NOTHING_TO_CLAIM', `${account} has nothing to claim`, {
    details: [`Earnings accrue when jobs on your datasets complete, when your workers finish jobs, or when a job fee is refunded; \`${cliHint('w3a earnings', account)}\` shows them.`],
    cause,
  })
}

/** Transfers everything the client's account earned on the jobs contract to it. NOTHING_TO_CLAIM when zero (no transaction). */
export async function claimEarnings(client: W3aClient): Promise<ClaimEarningsReturnType> {
  const account = requireAccount(client, 'claim')
  const { network, publicClient } = await chainReader(client)
  const { jobs, token } = network.contracts
  if ((await getEarnings(publicClient, { jobs, account: account.address })) === 0n) throw nothingToClaim(account.address)
  try {
    const r = await claimEarningsOnChain(walletFor(network, account), { jobs })
    return { account: account.address, hash: r.hash, claimed: tokenAmount(r.amount, await readTokenInfo(publicClient, network.chainId, token)) }
  } catch (e) {
    // Claimed by another transaction since the read above.
    if (e instanceof TxRevertedError && e.errorName === 'NothingToClaim') throw nothingToClaim(account.address, e)
    throw e
  }
}
