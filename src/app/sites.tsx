/**
 * Sites (the site owner): add a site (its id derived from the owner's signature, nothing
 * registered) and copy its snippet; read its stats through the gateway's Plausible-shaped
 * `POST /api/v2/query` (docs/site-owner.md), each request signed by the owner in this page.
 * Top stats, top pages, sources and devices, with what k suppressed.
 */
import { useState } from 'preact/hooks'
import type { LocalAccount } from 'viem'
import { NeedAccount } from './my-data.js'
import { useSession, type Sdk } from './session.js'
import { ActionButton, ErrorBox, Loading, Table, useAsync } from './ui.js'

/** The gateway answers the realtime periods from the ingest enclave; longer ones are jobs whose results only the owner's key opens (`w3a site stats`, `w3a site api`). */
const PERIODS = [
  ['5m', 'Realtime (5 min)'],
  ['1h', 'Last hour'],
] as const

type Answer = { results: { dimensions: string[]; metrics: number[] }[]; meta: { privacy: { k: number; suppressed: number } } }

/** One Stats API v2 query, signed by the owner (the enclave checks the signature over the mapped request). */
async function query(sdk: Sdk, account: LocalAccount, chainId: number, domain: string, metrics: string[], dimensions: string[], period: string): Promise<Answer> {
  const site = await sdk.siteFor(account, domain)
  const base = { site: site.id, owner: site.owner, salt: site.salt, metrics, dimensions, period, issuedAt: Math.floor(Date.now() / 1000) }
  const signature = await account.signMessage({ message: sdk.statsRequestText(base as Parameters<Sdk['statsRequestText']>[0], chainId) })
  const res = await fetch('/api/v2/query', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ site_id: site.id, metrics, dimensions, date_range: period, w3a: { owner: site.owner, salt: site.salt, issuedAt: base.issuedAt, signature } }),
  })
  const body = (await res.json()) as Answer & { error?: { code: string; message: string; details?: string[] } }
  if (!res.ok) throw Object.assign(new Error(body.error?.message ?? `HTTP ${res.status}`), { code: body.error?.code, details: body.error?.details ?? [] })
  return body
}

function savedSites(address: string): string[] {
  return JSON.parse(localStorage.getItem(`w3a.sites.${address.toLowerCase()}`) ?? '[]') as string[]
}

export function SitesView() {
  const { sdk, account } = useSession()
  const [domain, setDomain] = useState('')
  const [sites, setSites] = useState<string[]>(account ? savedSites(account.address) : [])
  const [current, setCurrent] = useState<string | null>(sites[0] ?? null)
  if (!account) return <NeedAccount what="add a site and read its stats" />
  const add = async () => {
    const site = await sdk.siteFor(account, domain)
    const next = [...new Set([...sites, site.domain])]
    localStorage.setItem(`w3a.sites.${account.address.toLowerCase()}`, JSON.stringify(next))
    setSites(next)
    setCurrent(site.domain)
  }
  return (
    <section aria-labelledby="sites-h">
      <h1 id="sites-h">Sites</h1>
      <p class="lead">Web analytics without seeing visitors: the tracker seals each event in the visitor's browser to an attested ingest worker; you get only counts of at least k visitors.</p>
      <p class="muted">
        Register a site once with <code>w3a site add DOMAIN</code> (it makes the site a W3A dataset the ingest worker appends to). Here: the realtime figures; longer periods, filters and
        comparisons run as privacy-checked jobs with <code>w3a site stats</code> or <code>w3a site api</code>.
      </p>
      <form class="row" onSubmit={(e) => e.preventDefault()} aria-label="Add a site">
        <label>
          Domain <input value={domain} placeholder="shop.example" onInput={(e) => setDomain((e.target as HTMLInputElement).value)} />
        </label>
        <ActionButton label="Add site" kind="primary" disabled={!domain.trim()} run={add} />
      </form>
      {sites.length > 0 && (
        <nav class="row" aria-label="Your sites">
          {sites.map((d) => (
            <button type="button" aria-pressed={d === current} class={d === current ? 'primary' : 'plain'} onClick={() => setCurrent(d)}>
              {d}
            </button>
          ))}
        </nav>
      )}
      {current && <SiteStats domain={current} key={current} />}
    </section>
  )
}

function SiteStats({ domain }: { domain: string }) {
  const { sdk, client, account, network } = useSession()
  const [period, setPeriod] = useState('1h')
  const snippet = useAsync(async () => {
    const [site, ingest] = await Promise.all([sdk.siteFor(account!, domain), sdk.getIngestInfo(client)])
    return sdk.siteSnippet({ gatewayUrl: location.origin, siteId: site.id, ingestKey: ingest.hpkePublicKey })
  }, [domain])
  const top = useAsync(() => query(sdk, account!, network.chainId, domain, ['visitors', 'visits', 'pageviews'], [], period), [domain, period])
  const breakdowns = useAsync(
    () => Promise.all(['event:page', 'visit:source', 'visit:device'].map((d) => query(sdk, account!, network.chainId, domain, ['visitors', 'pageviews'], [d], period))),
    [domain, period],
  )
  const [copied, setCopied] = useState(false)
  return (
    <div class="box" data-testid="site">
      <h2>{domain}</h2>
      <label>
        Snippet (put it in your pages' &lt;head&gt;)
        <textarea readOnly rows={3} value={snippet.data ?? ''} />
      </label>
      <ErrorBox error={snippet.error} />
      <button
        type="button"
        disabled={!snippet.data}
        onClick={() => {
          void navigator.clipboard.writeText(snippet.data ?? '').then(() => setCopied(true))
        }}
      >
        {copied ? 'Copied' : 'Copy snippet'}
      </button>
      <div class="row">
        <label>
          Period{' '}
          <select value={period} onChange={(e) => setPeriod((e.target as HTMLSelectElement).value)}>
            {PERIODS.map(([v, l]) => (
              <option value={v}>{l}</option>
            ))}
          </select>
        </label>
      </div>
      <ErrorBox error={top.error} title="Stats" />
      {top.loading && <Loading what="stats" />}
      {top.data && (
        <dl class="facts stats" data-testid="top-stats">
          {['Visitors', 'Visits', 'Pageviews'].map((name, i) => (
            <>
              <dt>{name}</dt>
              <dd>{top.data!.results[0]?.metrics[i] ?? 0}</dd>
            </>
          ))}
        </dl>
      )}
      {breakdowns.data && (
        <div class="grid2">
          {(['Top pages', 'Sources', 'Devices'] as const).map((title, i) => (
            <Table label={title} caption={title} head={[title === 'Top pages' ? 'Page' : title.slice(0, -1), 'Visitors', 'Pageviews']} rows={breakdowns.data![i]!.results.map((r) => [r.dimensions[0] ?? '', r.metrics[0] ?? 0, r.metrics[1] ?? 0])} />
          ))}
        </div>
      )}
      {top.data && (
        <p class="muted" data-testid="site-privacy">
          Privacy: every row counts at least k = {top.data.meta.privacy.k} visitors; {breakdowns.data?.reduce((a, b) => a + b.meta.privacy.suppressed, 0) ?? 0} smaller group(s) left out.
        </p>
      )}
    </div>
  )
}
