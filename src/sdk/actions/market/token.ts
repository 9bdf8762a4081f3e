import { erc20Abi, formatUnits, type Address } from 'viem'
import { withChainErrors } from '../../../chain/errors.js'
import type { ChainReadClient } from '../../../chain/read-client.js'
import type { W3aClient } from '../../client.js'
import { chainReader } from '../../chain-reader.js'

/** The network's payment token (any ERC-20 in production, "PHA" on dev networks). */
export type TokenInfo = { address: Address; symbol: string; decimals: number }

/** A token amount: exact base units, and the same amount for people ("12.5"). */
export type TokenAmount = { amount: bigint; formatted: string; symbol: string }

const cache = new Map<string, Promise<TokenInfo>>()

/** Symbol and decimals of the network's token, read once per chain and token. */
export async function getTokenInfo(client: W3aClient): Promise<TokenInfo> {
  const { network, publicClient } = await chainReader(client)
  return readTokenInfo(publicClient, network.chainId, network.contracts.token)
}

export function readTokenInfo(publicClient: ChainReadClient, chainId: number, address: Address): Promise<TokenInfo> {
  const key = `${chainId}:${address.toLowerCase()}`
  let info = cache.get(key)
  if (info === undefined) {
    info = withChainErrors(async () => {
      const [symbol, decimals] = await Promise.all([
        publicClient.readContract({ address, abi: erc20Abi, functionName: 'symbol' }),
        publicClient.readContract({ address, abi: erc20Abi, functionName: 'decimals' }),
      ])
      return { address, symbol, decimals }
    })
    info.catch(() => cache.delete(key)) // retry after a failure
    cache.set(key, info)
  }
  return info
}

export function tokenAmount(amount: bigint, token: TokenInfo): TokenAmount {
  return { amount, formatted: formatUnits(amount, token.decimals), symbol: token.symbol }
}
