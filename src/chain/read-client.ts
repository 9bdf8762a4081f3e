import { createClient, type ReadContractParameters } from 'viem'
import { getBlockNumber, readContract } from 'viem/actions'
import { chainFor, chainTransport, type ChainPublicClient, type CreateChainClientsParameters } from './clients.js'

/**
 * What read-only chain actions use of a public client: contract reads at a block. Any
 * `ChainPublicClient` is one; `createChainReadClient` makes one that carries only these two
 * actions, so a bundle that only reads (the dashboard's first screen) leaves out the rest of
 * viem's public actions (simulation, ENS, signatures, transactions).
 */
export type ChainReadClient = Pick<ChainPublicClient, 'chain' | 'transport' | 'readContract' | 'getBlockNumber'>

/** A client for reads only, with the chain and transport settings of `createChainClients`. */
export function createChainReadClient(params: Omit<CreateChainClientsParameters<undefined>, 'account'>): ChainReadClient {
  const chain = chainFor(params.chainId, params.rpcUrl)
  const client = createClient({ chain, ...chainTransport(params) })
  return {
    chain,
    transport: client.transport,
    readContract: ((args: ReadContractParameters) => readContract(client, args)) as ChainReadClient['readContract'],
    getBlockNumber: (args) => getBlockNumber(client, args),
  }
}
