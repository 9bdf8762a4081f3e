import type { NetworkInfo } from '../core/network-info.js'
import { createChainClients, type ChainPublicClient } from '../chain/portable.js'
import type { W3aClient } from './client.js'

/** The client's network and a public client on its RPC: what every read action starts from. */
export async function chainReader(client: W3aClient): Promise<{ network: NetworkInfo; publicClient: ChainPublicClient }> {
  const network = await client.network()
  const { publicClient } = createChainClients({ rpcUrl: network.rpcUrl, chainId: network.chainId })
  return { network, publicClient }
}
