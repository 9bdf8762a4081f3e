/**
 * A site's goals, funnels and custom properties in the Sites view (docs/site-owner.md, "Goals and
 * funnels"), loaded with the view's first use of them. Goals and funnels are defined here (kept by
 * the site's ingest enclave, shared with the CLI: site-settings-store.ts) and counted by privacy-checked jobs run
 * from this page with the owner's key, as the CLI's `w3a site stats --dimensions event:goal` and
 * `w3a site funnel` do: each figure is a job that spends ε, run when asked.
 */
import { useState } from 'preact/hooks'
import { useSession, type Sdk } from './session.js'
import type { SiteSettings as Settings } from './sdk.js'
import type { ShownSiteSettings } from './site-settings-store.js'
import { Breakdown, JobPrivacy, OnDemand, plausibleFilters, type Filter, type Ran } from './site-tables.js'
import { ActionButton, ErrorBox, Table, cellText } from './ui.js'

type Funnel = Settings['funnels'][number]
type FunnelRan = Awaited<ReturnType<Sdk['querySiteFunnel']>>

export type SiteGoalsProps = {
  domain: string
  settings: ShownSiteSettings
  change(rule: (s: Settings) => Settings): Promise<void>
  /** A job period (`day`, `7d`…), or null on a realtime period (the ingest worker counts no goals). */
  period: string | null
  filters: Filter[]
  onFilter(f: Filter): void
}

/** The jobs the panels run, over the view's period and filters, with the site's goals. */
function useJobs({ domain, settings, period, filters }: SiteGoalsProps) {
  const { sdk, client, changed } = useSession()
  const done = <T,>(p: Promise<T>) => p.finally(changed)
  return {
    query: (metrics: string[], dimensions: string[]): Promise<Ran> =>
      done(sdk.querySite(client, { query: { site_id: domain, metrics, dimensions, date_range: period, filters: plausibleFilters(filters) }, goals: settings.goals })),
    funnel: (funnel: Funnel): Promise<FunnelRan> =>
      done(sdk.querySiteFunnel(client, { site: domain, funnel, goals: settings.goals, date_range: period as Parameters<Sdk['querySiteFunnel']>[1]['date_range'], filters: plausibleFilters(filters) as [string, ...unknown[]][] })),
  }
}

export default function SiteGoals(p: SiteGoalsProps) {
  const jobs = useJobs(p)
  // Figures reset when what they count changes (the goals, or the view's period and filters).
  const counted = JSON.stringify([p.settings.goals, p.period, p.filters])
  return (
    <div class="grid2" data-testid="site-goals">
      <GoalsPanel {...p} ask={() => jobs.query(['visitors', 'events', 'conversion_rate'], ['event:goal'])} key={`g${counted}`} />
      <FunnelsPanel {...p} ask={jobs.funnel} key={`f${counted}`} />
      <PropsPanel {...p} ask={(name) => jobs.query(['visitors', 'events'], [`event:props:${name}`])} key={`p${counted}`} />
    </div>
  )
}

const NEEDS_JOB = 'Pick a longer period to count them: privacy-checked jobs do, the ingest worker does not.'

function GoalsPanel({ domain, settings, change, period, onFilter, ask }: SiteGoalsProps & { ask(): Promise<Ran> }) {
  const { sdk } = useSession()
  const [kind, setKind] = useState<'event' | 'page'>('event')
  const [value, setValue] = useState('')
  // A refused removal (a funnel uses the goal), said under the list.
  const [refused, setRefused] = useState<unknown>(undefined)
  const remove = async (name: string) => {
    try {
      setRefused(undefined)
      await change((s) => sdk.withoutGoal(s, name, domain))
    } catch (e) {
      setRefused(e)
    }
  }
  const goals = settings.goals.map((g) => sdk.goalName(g))
  return (
    <section class="panel" aria-labelledby="goals-h">
      <h3 id="goals-h">Goals</h3>
      <ErrorBox error={settings.loadError} title="Goals and funnels not loaded" />
      {goals.length === 0 && <p class="muted">No goals yet: a goal counts a custom event (w3a('event', NAME) on your pages) or visits to pages matching a path.</p>}
      {goals.length > 0 && period === null && <p class="muted">{NEEDS_JOB}</p>}
      {goals.length > 0 && period !== null && (
        <OnDemand
          title="Goal conversions"
          label="Load goal conversions"
          ask={ask}
          show={(ran) => (
            <>
              <Breakdown title="Goal conversions" head="Goal" columns={['Uniques', 'Total', 'CR %']} rows={ran.results} onPick={(v) => onFilter({ dimension: 'event:goal', value: v })} empty="No goal reached by k visitors yet." />
              <JobPrivacy privacy={[ran.meta.privacy]} />
            </>
          )}
        />
      )}
      {goals.length > 0 && (
        <ul class="row plain-list" aria-label="The site's goals">
          {goals.map((name) => (
            <li class="chip">
              {name}{' '}
              <button type="button" class="plain small" aria-label={`Remove the goal ${name}`} onClick={() => void remove(name)}>
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <ErrorBox error={refused} />
      <form class="row" aria-label="Add a goal" onSubmit={(e) => e.preventDefault()}>
        <label>
          Goal type{' '}
          <select value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value as 'event' | 'page')}>
            <option value="event">Custom event</option>
            <option value="page">Page visit</option>
          </select>
        </label>
        <label>
          {kind === 'event' ? 'Event name' : 'Page path'}{' '}
          <input value={value} placeholder={kind === 'event' ? 'Signup' : '/thanks*'} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
        </label>
        <ActionButton
          label="Add goal"
          disabled={!value.trim()}
          run={async () => {
            await change((s) => sdk.withGoal(s, kind === 'event' ? { event: value.trim() } : { page: value.trim() }))
            setValue('')
          }}
        />
      </form>
    </section>
  )
}

function FunnelsPanel({ settings, change, period, ask }: SiteGoalsProps & { ask(f: Funnel): Promise<FunnelRan> }) {
  const { sdk } = useSession()
  const goals = settings.goals.map((g) => sdk.goalName(g))
  const [name, setName] = useState('')
  const [steps, setSteps] = useState<string[]>(['', ''])
  const [refused, setRefused] = useState<unknown>(undefined)
  const stepsOf = (n: number) => Array.from({ length: n }, (_, i) => steps[i] ?? '')
  return (
    <section class="panel" aria-labelledby="funnels-h">
      <h3 id="funnels-h">Funnels</h3>
      {settings.funnels.length === 0 && <p class="muted">No funnels yet: a funnel is 2 to 8 goals in order; it counts the visitors who reached each step.</p>}
      {settings.funnels.length > 0 && period === null && <p class="muted">{NEEDS_JOB}</p>}
      {settings.funnels.map((f) => (
        <div>
          {period !== null && (
            <OnDemand
              title={`Funnel ${f.name}`}
              label={`Load funnel ${f.name}`}
              ask={() => ask(f)}
              show={(ran) => (
                <>
                  <Table
                    caption={`Funnel ${f.name}`}
                    head={['Step', 'Goal', 'Visitors', 'Conversion %', 'Drop-off']}
                    rows={ran.steps.map((s, i) => [i + 1, s.goal, cellText(s.visitors), cellText(s.conversion_rate), cellText(s.dropoff)])}
                  />
                  <JobPrivacy privacy={[ran.meta.privacy]} />
                </>
              )}
            />
          )}
          <p class="muted small">
            {f.name}: {f.steps.join(' → ')}{' '}
            <button type="button" class="plain small" aria-label={`Remove the funnel ${f.name}`} onClick={() => (setRefused(undefined), void change((s) => sdk.withoutFunnel(s, f.name)).catch(setRefused))}>
              ×
            </button>
          </p>
        </div>
      ))}
      <ErrorBox error={refused} />
      {goals.length < 2 ? (
        <p class="muted">Add two goals or more to define a funnel.</p>
      ) : (
        <form class="form" aria-label="Define a funnel" onSubmit={(e) => e.preventDefault()}>
          <label>
            Funnel name <input value={name} placeholder="Signup flow" onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          </label>
          {steps.map((s, i) => (
            <label>
              Step {i + 1}{' '}
              <select value={s} onChange={(e) => setSteps(stepsOf(steps.length).map((x, j) => (j === i ? (e.target as HTMLSelectElement).value : x)))}>
                <option value="">(pick a goal)</option>
                {goals.map((g) => (
                  <option value={g}>{g}</option>
                ))}
              </select>
            </label>
          ))}
          <div class="row">
            <button type="button" class="plain" disabled={steps.length >= 8} onClick={() => setSteps(stepsOf(steps.length + 1))}>
              Add a step
            </button>
            <button type="button" class="plain" disabled={steps.length <= 2} onClick={() => setSteps(stepsOf(steps.length - 1))}>
              Remove the last step
            </button>
            <ActionButton
              label="Add funnel"
              kind="primary"
              disabled={!name.trim() || steps.some((s) => !s)}
              run={async () => {
                await change((c) => sdk.withFunnel(c, { name: name.trim(), steps }))
                setName('')
                setSteps(['', ''])
              }}
            />
          </div>
        </form>
      )}
    </section>
  )
}

function PropsPanel({ period, onFilter, ask }: SiteGoalsProps & { ask(name: string): Promise<Ran> }) {
  const [name, setName] = useState('')
  const [shown, setShown] = useState<{ name: string; ran: Ran } | null>(null)
  return (
    <section class="panel" aria-labelledby="props-h">
      <h3 id="props-h">Custom properties</h3>
      <p class="muted">The values of a property your pages send with events (w3a('event', NAME, {'{'} props: {'{'} plan: 'pro' {'}'} {'}'})).</p>
      {period === null ? (
        <p class="muted">{NEEDS_JOB}</p>
      ) : (
        <form class="row" aria-label="Break down a custom property" onSubmit={(e) => e.preventDefault()}>
          <label>
            Property name <input value={name} placeholder="plan" onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          </label>
          <ActionButton label="Show its values" busyLabel="Running the job…" disabled={!name.trim()} run={async () => ({ name: name.trim(), ran: await ask(name.trim()) })} onDone={setShown} />
        </form>
      )}
      {shown && (
        <>
          <Breakdown title={`Property ${shown.name}`} head="Value" columns={['Visitors', 'Events']} rows={shown.ran.results} onPick={(v) => onFilter({ dimension: `event:props:${shown.name}`, value: v })} />
          <JobPrivacy privacy={[shown.ran.meta.privacy]} />
        </>
      )}
    </section>
  )
}
