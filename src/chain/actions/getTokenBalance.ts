import { erc20Abi, type Address } from 'viem'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf } from '../write.js'

export type GetTokenBalanceParameters = {
  /** Any ERC-20 (the W3A token on dev networks). */
  token: Address
  account: Address
  blockNumber?: bigint
}

/** Balance in token base units. */
export type GetTokenBalanceReturnType = bigint

export async function getTokenBalance(publicClient: ChainPublicClient, params: GetTokenBalanceParameters): Promise<GetTokenBalanceReturnType> {
  return withChainErrors(
    () =>
      publicClient.readContract({
        address: params.token,
        abi: erc20Abi,
        functionName: 'balanceOf',
        args: [params.account],
        ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
      }),
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
