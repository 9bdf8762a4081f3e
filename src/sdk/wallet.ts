import type { LocalAccount } from 'viem'
import type { NetworkInfo } from '../core/network-info.js'
import { createChainClients, type WriteClients } from '../chain/portable.js'

/** Chain clients that sign locally with the owner's account and send to the network's RPC. */
export function walletFor(network: NetworkInfo, account: LocalAccount): WriteClients {
  const { publicClient, walletClient } = createChainClients({ rpcUrl: network.rpcUrl, chainId: network.chainId, account })
  return { publicClient, walletClient }
}
