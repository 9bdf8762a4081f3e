/**
 * Sites (the site owner): add a site (its id derived from the owner's signature, nothing
 * registered) and copy its snippet; read its stats. Realtime periods come from the ingest
 * enclave through the gateway, each request signed in this page and each answer sealed to it (no ε).
 * Longer periods are W3A jobs run from this page with the owner's key (querySite: checked SQL,
 * DP noise, k, the site's ε budget), so they run when asked: top stats against the previous
 * period and the time series first, each breakdown on its own; a row's value filters them all.
 * Goals, funnels and custom properties are their own chunk (site-goals.tsx), under the stats.
 */
import { lazy, Suspense } from 'preact/compat'
import { useState } from 'preact/hooks'
import { useSession, type Client, type Sdk } from './session.js'
import { ActionButton, cellText, ErrorBox, Loading, NeedAccount, useAsync } from './ui.js'
import { Breakdown, filterName, JobPrivacy, OnDemand, plausibleFilters, type Filter, type Ran, type Row } from './site-tables.js'
import { useSiteSettings } from './site-settings-store.js'
import type { SiteSettings } from './sdk.js'

const Chart = lazy(() => import('./chart.js'))
const SiteGoals = lazy(() => import('./site-goals.js'))

/** Realtime periods: the ingest enclave answers them; longer ones are jobs. */
const REALTIME = { '5m': 'Realtime (5 min)', '1h': 'Last hour' } as const
const JOB_PERIODS = { day: 'Today', '7d': 'Last 7 days', '30d': 'Last 30 days', month: 'This month', '12mo': 'Last 12 months' } as const
type Period = keyof typeof REALTIME | keyof typeof JOB_PERIODS
const isRealtime = (p: Period): p is keyof typeof REALTIME => p in REALTIME

/** The breakdowns, as Plausible shows them (realtime has no exit page: a visit is not over yet). */
const BREAKDOWNS = [
  ['event:page', 'Top pages', 'Page'],
  ['visit:entry_page', 'Entry pages', 'Entry page'],
  ['visit:exit_page', 'Exit pages', 'Exit page'],
  ['visit:source', 'Sources', 'Source'],
  ['visit:utm_campaign', 'Campaigns (UTM)', 'Campaign'],
  ['visit:device', 'Devices', 'Device'],
  ['visit:browser', 'Browsers', 'Browser'],
  ['visit:os', 'Operating systems', 'OS'],
  ['visit:country', 'Countries', 'Country'],
] as const
type Privacy = { k: number; suppressed: number | null; epsilon: number | null; jobs?: string[] }
/** `from`: only when a realtime answer counts from later than its period's start (a busy site's oldest rows left the ingest worker's memory). */
type Answer = { results: Row[]; privacy: Privacy; from?: number }

/** One realtime query, signed by the owner; the answer is sealed to this page and signed by the site's ingest worker (the SDK checks both). */
async function realtime(sdk: Sdk, client: Client, domain: string, metrics: string[], dimensions: string[], period: keyof typeof REALTIME): Promise<Answer> {
  const a = await sdk.getSiteRealtime(client, { domain, metrics: metrics as Parameters<Sdk['getSiteRealtime']>[1]['metrics'], dimensions: dimensions as Parameters<Sdk['getSiteRealtime']>[1]['dimensions'], period })
  return { results: a.results, privacy: a.meta.privacy, ...(a.meta.from ? { from: a.meta.from } : {}) }
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
        Register a site once with <code>w3a site add DOMAIN</code> (it makes the site a W3A dataset the ingest worker appends to). The last hour comes straight from the ingest worker; longer periods
        run as privacy-checked jobs from this page, with your key, spending the site's ε budget.
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
  const { sdk, client, account } = useSession()
  const [period, setPeriod] = useState<Period>('1h')
  const [filters, setFilters] = useState<Filter[]>([])
  const site = useAsync(() => sdk.siteFor(account!, domain), [domain])
  const [settings, change] = useSiteSettings(site.data?.id)
  const snippet = useAsync(async () => {
    const ingest = await sdk.getIngestInfo(client)
    return site.data && sdk.siteSnippet({ gatewayUrl: location.origin, siteId: site.data.id, ingestKey: ingest.hpkePublicKey })
  }, [site.data])
  const onFilter = (f: Filter) => setFilters([...filters.filter((x) => x.dimension !== f.dimension), f])
  const [copied, setCopied] = useState(false)
  return (
    <div class="box" data-testid="site">
      <h2>{domain}</h2>
      <details>
        <summary>Snippet</summary>
        <label>
          Snippet (put it in your pages' &lt;head&gt;)
          <textarea readOnly rows={3} value={snippet.data ?? ''} />
        </label>
        <ErrorBox error={site.error ?? snippet.error} />
        <button
          type="button"
          disabled={!snippet.data}
          onClick={() => {
            void navigator.clipboard.writeText(snippet.data ?? '').then(() => setCopied(true))
          }}
        >
          {copied ? 'Copied' : 'Copy snippet'}
        </button>
      </details>
      <div class="row">
        <label>
          Period{' '}
          <select value={period} onChange={(e) => setPeriod((e.target as HTMLSelectElement).value as Period)}>
            <optgroup label="From the ingest worker (no ε)">
              {Object.entries(REALTIME).map(([v, l]) => (
                <option value={v}>{l}</option>
              ))}
            </optgroup>
            <optgroup label="Privacy-checked jobs (spend ε)">
              {Object.entries(JOB_PERIODS).map(([v, l]) => (
                <option value={v}>{l}</option>
              ))}
            </optgroup>
          </select>
        </label>
        {!isRealtime(period) &&
          filters.map((f, i) => (
            <span class="chip" data-testid="filter">
              {filterName(f.dimension)} is {f.value}{' '}
              <button type="button" class="plain small" aria-label={`Remove the filter ${f.dimension} is ${f.value}`} onClick={() => setFilters(filters.filter((_, j) => j !== i))}>
                ×
              </button>
            </span>
          ))}
      </div>
      {isRealtime(period) ? (
        <RealtimeStats domain={domain} period={period} key={period} />
      ) : (
        <JobStats domain={domain} period={period} filters={filters} goals={settings.goals} onFilter={onFilter} key={`${period}${JSON.stringify(filters)}`} />
      )}
      {site.data && (
        <Suspense fallback={<Loading what="goals" />}>
          <SiteGoals domain={domain} settings={settings} change={change} period={isRealtime(period) ? null : period} filters={isRealtime(period) ? [] : filters} onFilter={onFilter} />
        </Suspense>
      )}
    </div>
  )
}

const TOP = ['Visitors', 'Visits', 'Pageviews'] as const

function RealtimeStats({ domain, period }: { domain: string; period: keyof typeof REALTIME }) {
  const { sdk, client } = useSession()
  const ask = (dimensions: string[]) => realtime(sdk, client, domain, ['visitors', 'visits', 'pageviews'], dimensions, period)
  const top = useAsync(() => ask([]), [domain, period])
  const live = BREAKDOWNS.filter(([d]) => d !== 'visit:exit_page')
  // The top figures first, then the breakdowns: asked together, their signatures and answers delayed the first screen.
  const breakdowns = useAsync(async () => (top.data ? Promise.all(live.map(([d]) => ask([d]))) : undefined), [domain, period, top.data])
  return (
    <>
      <ErrorBox error={top.error} title="Stats" />
      {top.loading && <Loading what="stats" />}
      {top.data && <TopStats names={TOP} row={top.data.results[0]} />}
      <ErrorBox error={breakdowns.error} title="Breakdowns" />
      {breakdowns.data && (
        <div class="grid2">
          {live.map(([, title, head], i) => (
            <Breakdown title={title} head={head} rows={breakdowns.data![i]!.results} />
          ))}
        </div>
      )}
      {top.data && (
        <p class="muted" data-testid="site-privacy">
          Privacy: every row counts at least k = {top.data.privacy.k} visitors; {breakdowns.data?.reduce((a, b) => a + (b.privacy.suppressed ?? 0), 0) ?? 0} smaller group(s) left out. Filters and exit pages
          need a longer period (a job).
        </p>
      )}
      {top.data?.from && (
        <p class="muted" data-testid="site-realtime-from">
          These figures count from {new Date(top.data.from).toLocaleTimeString()}: on a site this busy the oldest events of the period have left the ingest worker's memory. A longer period (a job) counts them all.
        </p>
      )}
    </>
  )
}

function TopStats({ names, row }: { names: readonly string[]; row: Row | undefined }) {
  return (
    <dl class="facts stats" data-testid="top-stats">
      {names.map((name, i) => {
        const change = row?.comparison?.change[i]
        return (
          <>
            <dt>{name}</dt>
            <dd>
              {cellText(row?.metrics[i] ?? 0)}
              {change !== undefined && (
                <small class={change === null ? 'muted' : change >= 0 ? 'up' : 'down'} data-testid="change">
                  {' '}
                  {change === null ? 'no previous figure' : `${change >= 0 ? '+' : ''}${change}% vs previous period`}
                </small>
              )}
            </dd>
          </>
        )
      })}
    </dl>
  )
}

function JobStats({ domain, period, filters, goals, onFilter }: { domain: string; period: keyof typeof JOB_PERIODS; filters: Filter[]; goals: SiteSettings['goals']; onFilter(f: Filter): void }) {
  const { sdk, client, changed } = useSession()
  const [stage, setStage] = useState('')
  const [top, setTop] = useState<{ top: Ran; series: Ran } | null>(null)
  const ask = (metrics: string[], dimensions: string[], comparison = false) =>
    sdk.querySite(client, {
      query: { site_id: domain, metrics, dimensions, date_range: period, filters: plausibleFilters(filters), ...(comparison ? { include: { comparisons: { mode: 'previous_period' } } } : {}) },
      // A goal filter (a row of the Goals panel) needs the goals it names.
      goals,
      onProgress: (s) => setStage(s),
    })
  const run = async () => {
    try {
      const t = await ask(['visitors', 'visits', 'pageviews', 'bounce_rate', 'visit_duration'], [], true)
      const series = await ask(['visitors', 'pageviews'], [period === 'day' ? 'time:hour' : period === '12mo' ? 'time:month' : 'time:day'])
      return { top: t, series }
    } finally {
      setStage('')
      changed()
    }
  }
  return (
    <>
      {!top && (
        <div class="row">
          <ActionButton label="Show stats for this period" busyLabel={stage ? `Running: ${stage}…` : 'Running…'} kind="primary" run={run} onDone={setTop} />
          <span class="muted">3 jobs (this period, the previous one, the time series), each spending the site policy's ε.</span>
        </div>
      )}
      {top && (
        <>
          <TopStats names={[...TOP, 'Bounce rate %', 'Visit duration s']} row={top.top.results[0]} />
          {top.series.results.length > 1 && (
            <Suspense fallback={<Loading what="chart" />}>
              <Chart line columns={['time', 'visitors', 'pageviews']} rows={top.series.results.map((r) => [r.dimensions[0]!.slice(0, 16), ...r.metrics])} label="Visitors and pageviews over time" />
            </Suspense>
          )}
          <JobPrivacy privacy={[top.top.meta.privacy, top.series.meta.privacy]} />
          <div class="grid2">
            {BREAKDOWNS.map(([d, title, head]) => (
              <OnDemand
                title={title}
                label={`Load ${title.toLowerCase()}`}
                ask={() => ask(['visitors', 'pageviews'], [d])}
                show={(ran) => (
                  <>
                    <Breakdown title={title} head={head} rows={ran.results} onPick={(value) => onFilter({ dimension: d, value })} />
                    <JobPrivacy privacy={[ran.meta.privacy]} />
                  </>
                )}
              />
            ))}
          </div>
        </>
      )}
    </>
  )
}
