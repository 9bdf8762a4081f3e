import { createWalletClient, custom, toHex, type Address, type EIP1193Provider, type LocalAccount, type Transport } from 'viem'
import { toAccount } from 'viem/accounts'
import { W3aError } from '../core/errors.js'
import type { NetworkInfo } from '../core/network-info.js'
import { chainFor, createChainClients, type ChainWalletClient, type WriteClients } from '../chain/portable.js'

/** Accounts made by `injectedAccount`, with the transport their transactions go through. */
const injected = new WeakMap<LocalAccount, Transport>()

/**
 * Chain clients for `account`: a local account signs here and sends to the network's RPC; an
 * injected wallet's account (`injectedAccount`) has its wallet sign and send (eth_sendTransaction).
 * Reads always go to the network's RPC.
 */
export function walletFor(network: NetworkInfo, account: LocalAccount): WriteClients {
  const transport = injected.get(account)
  if (transport === undefined) {
    const { publicClient, walletClient } = createChainClients({ rpcUrl: network.rpcUrl, chainId: network.chainId, account })
    return { publicClient, walletClient }
  }
  const { publicClient } = createChainClients({ rpcUrl: network.rpcUrl, chainId: network.chainId })
  const walletClient = createWalletClient({ chain: chainFor(network.chainId, network.rpcUrl), transport, account: account.address }) as unknown as ChainWalletClient
  return { publicClient, walletClient }
}

export type InjectedAccountParameters = { provider: EIP1193Provider; address: Address }

/**
 * An EIP-1193 browser wallet's account (MetaMask, ...) as the SDK's account: messages and
 * typed data are signed by the wallet (personal_sign, eth_signTypedData_v4), transactions sent
 * by it through viem's `custom` transport. Keys derived from its signatures (owner wrap key,
 * analyst result key) stay in the page, like the wallet's own key stays in the wallet.
 */
export function injectedAccount(params: InjectedAccountParameters): LocalAccount {
  const { provider, address } = params
  const transport = custom(provider)
  const signer = createWalletClient({ transport, account: address })
  const account = toAccount({
    address,
    signMessage: ({ message }) => signer.signMessage({ account: address, message }),
    signTypedData: (typedData) => signer.signTypedData({ account: address, ...(typedData as Parameters<typeof signer.signTypedData>[0]) }),
    signTransaction: () => {
      throw new W3aError('INVALID_ARGUMENT', 'a browser wallet signs and sends its transactions itself', { details: ['Use the SDK actions: they send through the wallet.'] })
    },
  })
  injected.set(account, transport)
  return account
}

/** Asks the wallet for its accounts (eth_requestAccounts) and to switch to the network's chain. */
export async function connectInjectedWallet(provider: EIP1193Provider, network: NetworkInfo): Promise<LocalAccount> {
  const [address] = await provider.request({ method: 'eth_requestAccounts' })
  if (!address) throw new W3aError('ACCOUNT_MISSING', 'the browser wallet shared no account', { details: ['Unlock the wallet and allow this site.'] })
  const chainId = toHex(network.chainId)
  const current = await provider.request({ method: 'eth_chainId' })
  if (current !== chainId) {
    try {
      await provider.request({ method: 'wallet_switchEthereumChain', params: [{ chainId }] })
    } catch {
      await provider.request({
        method: 'wallet_addEthereumChain',
        params: [{ chainId, chainName: network.name, nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: [network.rpcUrl] }],
      })
    }
  }
  return injectedAccount({ provider, address })
}
