import {
  createPublicClient,
  createWalletClient,
  defineChain,
  type Account,
  type HttpTransport,
  type Chain,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { foundry } from 'viem/chains'
import { W3aError } from '../core/errors.js'
import { rpcTransport } from '../core/rpc-transport.js'

export type ChainPublicClient = PublicClient<Transport, Chain>
export type ChainWalletClient = WalletClient<Transport, Chain, Account>

/** What write actions need: reads/simulation/receipts and a signing account. */
export type WriteClients = { publicClient: ChainPublicClient; walletClient: ChainWalletClient }

export type CreateChainClientsParameters<account extends Account | undefined = Account | undefined> = {
  rpcUrl: string
  chainId: number
  /** Signing account (local, e.g. `devAccount(0)`). Without it only `publicClient` is made. */
  account?: account
  /** How often receipts/blocks are polled. Default 100 ms on 31337 (anvil mines instantly), else 1 s. */
  pollingInterval?: number
  /** Per-request timeout. Default 10 s. */
  timeout?: number
}

export type CreateChainClientsReturnType<account extends Account | undefined = Account | undefined> = {
  chain: Chain
  publicClient: ChainPublicClient
  walletClient: account extends Account ? ChainWalletClient : undefined
}

/** The viem chain object for `chainId`: viem's `foundry` for 31337, a minimal definition otherwise. */
export function chainFor(chainId: number, rpcUrl: string): Chain {
  if (!Number.isSafeInteger(chainId) || chainId <= 0) throw new W3aError('INVALID_ARGUMENT', `invalid chain id ${chainId}`)
  if (chainId === foundry.id) return { ...foundry, rpcUrls: { default: { http: [rpcUrl] } } }
  return defineChain({
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  })
}

export function createChainClients<account extends Account | undefined = undefined>(
  params: CreateChainClientsParameters<account>,
): CreateChainClientsReturnType<account> {
  const { rpcUrl, chainId, account } = params
  const chain = chainFor(chainId, rpcUrl)
  const { transport, pollingInterval } = chainTransport(params)
  const publicClient = createPublicClient({ chain, transport, pollingInterval }) as ChainPublicClient
  const walletClient = account === undefined ? undefined : createWalletClient({ chain, transport, account, pollingInterval })
  return { chain, publicClient, walletClient } as CreateChainClientsReturnType<account>
}

/** The RPC transport and polling interval every client of this module uses (read-client.ts too). */
export function chainTransport(params: Pick<CreateChainClientsParameters, 'rpcUrl' | 'chainId' | 'pollingInterval' | 'timeout'>): { transport: HttpTransport; pollingInterval: number } {
  const pollingInterval = params.pollingInterval ?? (params.chainId === foundry.id ? 100 : 1_000)
  return { transport: rpcTransport(params.rpcUrl, params.timeout), pollingInterval }
}
