/**
 * The page's session: the network the gateway describes, the SDK (loaded on first use), and
 * the account the person acts as. On a devnet (the gateway's network says `dev: true`) the
 * public dev accounts are offered; anywhere, an injected EIP-1193 wallet. The chosen account is
 * remembered by name only (`dev:3` or `wallet`): a dev key is public, a wallet keeps its own.
 */
import { createContext } from 'preact'
import { useContext } from 'preact/hooks'
import type { LocalAccount, EIP1193Provider } from 'viem'
import type { NetworkInfo } from '../core/network-info.js'

export type Sdk = typeof import('./sdk.js')
export type ReadSdk = typeof import('./sdk-read.js')
export type Client = ReturnType<Sdk['createW3aClient']>

export type AccountChoice = { kind: 'none' } | { kind: 'dev'; index: number } | { kind: 'wallet' }

export type Session = {
  /** The first screen's reads (always loaded). */
  read: ReadSdk
  /** Everything else: loaded once an account is picked or a view other than the market opened. */
  full: Sdk | undefined
  network: NetworkInfo
  /** Acts for `account` (reads only without one). */
  client: Client
  account: LocalAccount | undefined
  choice: AccountChoice
  /** Bumped after every write, so views re-read balances and lists. */
  version: number
  changed(): void
}

export const SessionContext = createContext<Session | null>(null)

export function useSession(): Session & { sdk: Sdk } {
  const s = useContext(SessionContext)
  if (!s) throw new Error('useSession outside the session')
  // Only the read-only market list renders before the full SDK; everything else has it.
  return {
    ...s,
    get sdk(): Sdk {
      if (!s.full) throw new Error('the SDK is still loading')
      return s.full
    },
  }
}

let readPromise: Promise<ReadSdk> | undefined
export function loadReadSdk(): Promise<ReadSdk> {
  readPromise ??= import('./sdk-read.js')
  return readPromise
}

let sdkPromise: Promise<Sdk> | undefined
export function loadSdk(): Promise<Sdk> {
  sdkPromise ??= import('./sdk.js')
  return sdkPromise
}

export async function loadNetwork(): Promise<NetworkInfo> {
  const res = await fetch('/api/v1/network', { headers: { accept: 'application/json' } })
  if (!res.ok) throw new Error(`the gateway's /api/v1/network answered HTTP ${res.status}`)
  return (await res.json()) as NetworkInfo
}

/** Dev accounts offered on a devnet: the ten Anvil funds (src/chain/dev-accounts.ts DEV_ACCOUNT_COUNT). */
export const DEV_ACCOUNTS = 10

let devPromise: Promise<typeof import('./dev-accounts.js')> | undefined
export function loadDevAccounts(): Promise<typeof import('./dev-accounts.js')> {
  devPromise ??= import('./dev-accounts.js')
  return devPromise
}

const KEY = 'w3a.account'

export function savedChoice(): AccountChoice {
  const raw = localStorage.getItem(KEY) ?? ''
  const dev = /^dev:(\d)$/.exec(raw)
  if (dev) return { kind: 'dev', index: Number(dev[1]) }
  if (raw === 'wallet') return { kind: 'wallet' }
  return { kind: 'none' }
}

export function saveChoice(c: AccountChoice): void {
  localStorage.setItem(KEY, c.kind === 'dev' ? `dev:${c.index}` : c.kind)
}

export function injectedProvider(): EIP1193Provider | undefined {
  return (window as unknown as { ethereum?: EIP1193Provider }).ethereum
}

/** The account of a choice: a dev account only on a devnet; a wallet asks its owner first. */
export async function accountFor(sdk: Sdk, network: NetworkInfo, c: AccountChoice): Promise<LocalAccount | undefined> {
  if (c.kind === 'dev') return network.dev ? (await loadDevAccounts()).devAccount(c.index) : undefined
  if (c.kind === 'wallet') {
    const provider = injectedProvider()
    if (!provider) throw new Error('no browser wallet (window.ethereum) in this page: install one such as MetaMask')
    return sdk.connectInjectedWallet(provider, network)
  }
  return undefined
}
