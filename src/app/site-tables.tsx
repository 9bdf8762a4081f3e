/**
 * The Sites view's building blocks, shared by its stats (sites.tsx) and its goals, funnels and
 * custom properties (site-goals.tsx): a ranked breakdown whose rows filter, a job run on demand,
 * and the privacy line under what jobs show.
 */
import type { ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'
import type { Sdk } from './session.js'
import { ActionButton, cellText } from './ui.js'

export type Row = { dimensions: string[]; metrics: (number | null)[]; comparison?: { change: (number | null)[] } }
export type Ran = Awaited<ReturnType<Sdk['querySite']>>
export type SitePrivacy = Ran['meta']['privacy']
/** A filter on any Stats API dimension (a page, a source, a goal, a custom property's value). */
export type Filter = { dimension: string; value: string }

/** The filters as the Stats API takes them. */
export const plausibleFilters = (filters: readonly Filter[]) => filters.map((f) => ['is', f.dimension, [f.value]])

/** What a filter's chip calls the dimension: `page`, `source`, `goal`, `plan` (a custom property). */
export const filterName = (dimension: string) => dimension.replace(/^(event|visit):(props:)?/, '')

/**
 * A ranked breakdown: the dimension's value, then one column per metric. With `onPick`, each
 * value is a button that filters the site's stats by it.
 */
export function Breakdown({ title, head, rows, onPick, columns = ['Visitors', 'Pageviews'], empty = 'No group of k visitors yet.' }: { title: string; head: string; rows: Row[]; onPick?: (value: string) => void; columns?: readonly string[]; empty?: string }) {
  return (
    <div class="table-wrap" role="region" aria-label={title} tabIndex={0}>
      <table>
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col">{head}</th>
            {columns.map((c) => (
              <th scope="col">{c}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 && (
            <tr>
              <td colSpan={columns.length + 1} class="muted">
                {empty}
              </td>
            </tr>
          )}
          {rows.map((r) => (
            <tr>
              <td>
                {onPick ? (
                  <button type="button" class="link" title={`Filter by ${head.toLowerCase()} ${r.dimensions[0]}`} onClick={() => onPick(r.dimensions[0] ?? '')}>
                    {r.dimensions[0] || '(none)'}
                  </button>
                ) : (
                  r.dimensions[0] || '(none)'
                )}
              </td>
              {columns.map((_, i) => (
                <td>{cellText(r.metrics[i])}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/** A job run when asked (it spends ε): a button until it has run, then what `show` makes of it. */
export function OnDemand<T>({ title, label, ask, show }: { title: string; label: string; ask(): Promise<T>; show(ran: T): ComponentChildren }) {
  const [ran, setRan] = useState<T | null>(null)
  if (ran === null)
    return (
      <div class="box">
        <strong>{title}</strong> <ActionButton label={label} busyLabel="Running the job…" run={ask} onDone={setRan} />
      </div>
    )
  return <div>{show(ran)}</div>
}

/** What the jobs spent, hid and added: small, under what they show. */
export function JobPrivacy({ privacy }: { privacy: SitePrivacy[] }) {
  const p = privacy
  const eps = p.reduce((a, x) => a + x.epsilon, 0)
  const suppressed = p.some((x) => x.suppressed === null) ? 'not disclosed under DP' : String(p.reduce((a, x) => a + (x.suppressed ?? 0), 0))
  const noise = Object.entries(p.find((x) => x.noise)?.noise ?? {})
  return (
    <p class="muted small" data-testid="site-privacy">
      {p[0]!.mechanism}, k = {p[0]!.k}; ε spent {cellText(eps)} (left {cellText(p[p.length - 1]!.epsilonLeft)}); groups left out: {suppressed}; job(s) {p.flatMap((x) => x.jobs).map((j) => `#${j}`).join(', ')}.
      {noise.length > 0 && ` Noise scale: ${noise.map(([m, s]) => `${m} ±${cellText(s)}`).join(', ')}.`}
    </p>
  )
}
