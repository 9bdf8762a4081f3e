import type { NetworkInfo } from '../core/network-info.js'
import { createChainClients, type ChainPublicClient } from '../chain/clients.js'
import { createChainReadClient, type ChainReadClient } from '../chain/read-client.js'
import type { W3aClient } from './client.js'

/** The client's network and a public client on its RPC: what every read action starts from. */
export async function chainReader(client: W3aClient): Promise<{ network: NetworkInfo; publicClient: ChainPublicClient }> {
  const network = await client.network()
  const { publicClient } = createChainClients({ rpcUrl: network.rpcUrl, chainId: network.chainId })
  return { network, publicClient }
}

/**
 * The same with a client that only reads contracts (read-client.ts), for actions that need no
 * more: a bundle of such actions (the dashboard's first screen) leaves the rest of viem out.
 */
export async function chainReadOnly(client: W3aClient): Promise<{ network: NetworkInfo; publicClient: ChainReadClient }> {
  const network = await client.network()
  return { network, publicClient: createChainReadClient({ rpcUrl: network.rpcUrl, chainId: network.chainId }) }
}
