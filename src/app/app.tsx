/** The dashboard's shell: header with the views and the account picker, and the current view. */
import { useEffect, useMemo, useState } from 'preact/hooks'
import type { LocalAccount } from 'viem'
import type { NetworkInfo } from '../core/network-info.js'
import { accountFor, DEV_ACCOUNTS, injectedProvider, loadNetwork, loadReadSdk, loadSdk, saveChoice, savedChoice, SessionContext, type AccountChoice, type Sdk, type Session } from './session.js'
import { ErrorBox, Loading, short, useAsync } from './ui.js'
import { lazy, Suspense } from 'preact/compat'
import { MarketView } from './market.js'

// The market is the first screen; every other view is its own chunk, loaded when opened.
const MyDataView = lazy(() => import('./my-data.js').then((m) => m.MyDataView))
const NetworkView = lazy(() => import('./network.js').then((m) => m.NetworkView))
const SitesView = lazy(() => import('./sites.js').then((m) => m.SitesView))

const VIEWS = [
  { path: 'market', title: 'Market', hint: 'analyst', View: MarketView },
  { path: 'data', title: 'My data', hint: 'owner', View: MyDataView },
  { path: 'network', title: 'Network', hint: 'operator', View: NetworkView },
  { path: 'sites', title: 'Sites', hint: 'site owner', View: SitesView },
] as const

function currentPath(): string {
  return location.hash.replace(/^#\/?/, '').split('?')[0] || 'market'
}

export function App() {
  const [path, setPath] = useState(currentPath())
  useEffect(() => {
    const on = () => setPath(currentPath())
    addEventListener('hashchange', on)
    return () => removeEventListener('hashchange', on)
  }, [])
  const boot = useAsync(() => Promise.all([loadReadSdk(), loadNetwork()]), [])
  const [choice, setChoice] = useState<AccountChoice>(savedChoice())
  const [version, setVersion] = useState(0)
  const view = VIEWS.find((v) => v.path === path) ?? VIEWS[0]
  // The full SDK once it is needed (an account, or a view past the market's list), then kept.
  const needFull = choice.kind !== 'none' || view.path !== 'market'
  const [wantFull, setWantFull] = useState(needFull)
  useEffect(() => {
    if (needFull) setWantFull(true)
  }, [needFull])
  const full = useAsync(async () => (wantFull ? loadSdk() : undefined), [wantFull])
  const network = boot.data?.[1]
  // Without an account nothing it waits for matters: keyed on the network too, it would reload
  // when the network arrives and remount the first screen (reading the market twice).
  const none = choice.kind === 'none'
  const account = useAsync(async () => (full.data && network ? accountFor(full.data, network, choice) : undefined), [choice, none ? undefined : full.data, none ? undefined : network])

  useEffect(() => {
    document.title = `${view.title} · W3A`
  }, [view])

  // One client per account: it caches the network description and token info. The full SDK's
  // once loaded: the first screen's reads are a bundle of their own (scripts/build-app.mjs), and
  // the SDK's actions know only their own bundle's errors.
  const client = useMemo(
    () => (full.data ?? boot.data?.[0])?.createW3aClient({ gatewayUrl: location.origin, ...(account.data ? { account: account.data } : {}) }),
    [boot.data, full.data, account.data],
  )
  let session: Session | null = null
  if (boot.data && network && client && !account.loading && (full.data || !needFull)) {
    const acct = account.data
    session = {
      read: boot.data[0],
      full: full.data,
      network,
      client,
      account: acct,
      choice: acct ? choice : { kind: 'none' },
      version,
      changed: () => setVersion((v) => v + 1),
    }
  }

  return (
    <>
      {/* The hash is the route, so the skip link moves focus itself instead of going to #main. */}
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault()
          document.getElementById('main')?.focus()
        }}
      >
        Skip to content
      </a>
      <header class="top">
        <div class="brand">
          <span aria-hidden="true">◆</span> W3A
          {boot.data?.[1].dev && <span class="badge" title="a local dev network: keys of dev accounts are public">devnet</span>}
        </div>
        <nav aria-label="Views">
          {VIEWS.map((v) => (
            <a href={`#/${v.path}`} aria-current={v === view ? 'page' : undefined} title={`for the ${v.hint}`}>
              {v.title}
            </a>
          ))}
        </nav>
        {network && (
          <AccountPicker
            sdk={full.data}
            network={network}
            choice={choice}
            account={account.data}
            version={version}
            onChoose={(c) => {
              saveChoice(c)
              setChoice(c)
            }}
          />
        )}
      </header>
      <main id="main" tabIndex={-1}>
        <ErrorBox error={boot.error} title="Cannot reach the W3A gateway" />
        <ErrorBox error={full.error} title="Cannot load the SDK" />
        <ErrorBox error={account.error} title="Account" />
        {!session && !boot.error && !full.error && <Loading what={boot.data ? 'the SDK' : 'the network'} />}
        {session && (
          <SessionContext.Provider value={session}>
            <Suspense fallback={<Loading what={`the ${view.title} view`} />}>
              <view.View />
            </Suspense>
          </SessionContext.Provider>
        )}
      </main>
    </>
  )
}

function AccountPicker(p: { sdk: Sdk | undefined; network: NetworkInfo; choice: AccountChoice; account: LocalAccount | undefined; version: number; onChoose(c: AccountChoice): void }) {
  const { sdk, network, account } = p
  const value = p.choice.kind === 'dev' ? `dev:${p.choice.index}` : p.choice.kind
  // Dev accounts only where the gateway says the network is a devnet (their keys are public);
  // their addresses are derived once one is picked (the derivation is its own chunk).
  const devIndexes = network.dev ? Array.from({ length: DEV_ACCOUNTS }, (_, i) => i) : []
  const balance = useAsync(
    async () => (account && sdk ? sdk.getEarnings(sdk.createW3aClient({ gatewayUrl: location.origin, account }), {}) : undefined),
    [sdk, account, p.version],
  )
  return (
    <div class="account">
      <label for="account-select">Account</label>
      <select
        id="account-select"
        value={value}
        onChange={(e) => {
          const v = (e.target as HTMLSelectElement).value
          p.onChoose(v === 'wallet' ? { kind: 'wallet' } : v.startsWith('dev:') ? { kind: 'dev', index: Number(v.slice(4)) } : { kind: 'none' })
        }}
      >
        <option value="none">Read only (no account)</option>
        {injectedProvider() && <option value="wallet">Browser wallet{p.choice.kind === 'wallet' && account ? ` ${short(account.address, 4)}` : ''}</option>}
        {devIndexes.map((i) => (
          <option value={`dev:${i}`}>
            Dev account {i}
            {p.choice.kind === 'dev' && p.choice.index === i && account ? ` · ${short(account.address, 4)}` : ''}
          </option>
        ))}
      </select>
      {account && balance.data && (
        <span class="balance" aria-live="polite" data-testid="balance">
          {balance.data.balance.formatted} {balance.data.balance.symbol}
        </span>
      )}
    </div>
  )
}
