/**
 * The Stats API answered by a W3A job (docs/site-owner.md, "Reading stats"): a Plausible v2
 * query is translated into checked SQL over the site's dataset (plausible-query.ts) and run as a
 * normal job under the site's policy (DP by default, k, the ε budget), with the owner's own usage
 * credit (the site is listed at price 0, so buying one costs nothing). The answer is opened with
 * the owner's wallet-derived key, so this runs where that key is (the CLI, or `w3a site api`).
 */
import type { Hex } from 'viem'
import { W3aError, isW3aError } from '../../core/errors.js'
import type { ReleasePrivacy } from '../../analysis/job-output.js'
import { getCredits } from '../../chain/portable.js'
import { requireAccount, type W3aClient } from '../client.js'
import { chainReader } from '../custody-channel.js'
import { comparisonRange, conversionTotalsQuery, dateRange, orderAndPage, parseSiteQuery, resolveFilter, siteQuerySql, siteRows, timeOnPagePlan, withComparison, withConversionRate, withTimeOnPage, type SiteQuery, type SiteResultRow } from '../plausible-query.js'
import { goalName, goalNamed, type Funnel, type Goal } from '../site-goals.js'
import { funnelFunction, type UnitFunctionPlan } from '../site-unit-functions.js'
import { runQuery, type RunQueryParameters } from './analysis/runQuery.js'
import { buyCredits } from './market/buyCredits.js'
import { siteFor } from './site-id.js'
import { getSiteSettings } from './getSiteSettings.js'

/** A visitor's events per group and the groups a visitor touches, bounded for DP (per-unit contribution). */
export const SITE_CONTRIBUTION = { maxRowsPerUnit: 10, maxGroupsPerUnit: 5 } as const

export type QuerySiteParameters = {
  /** Plausible Stats API v2 body; `site_id` is the domain the site was added for, or its id. */
  query: unknown
  /** The site's goals (event:goal); default: the ones the ingest enclave keeps (getSiteSettings), read when the query names event:goal. */
  goals?: readonly Goal[]
  /** ε of each job (default: the site policy's); 0 = exact (whole-dataset totals only, where the policy allows). */
  epsilon?: number
  onProgress?: RunQueryParameters['onProgress']
  timeoutMs?: number
}

export type SitePrivacy = { k: number; suppressed: number | null; noise: Record<string, number> | null; epsilon: number; mechanism: string; epsilonLeft: number; jobs: string[] }

export type QuerySiteReturnType = {
  results: SiteResultRow[]
  meta: { site_id: string; metrics: string[]; dimensions: string[]; date_range: [string, string] | null; privacy: SitePrivacy }
  query: SiteQuery
}

export async function querySite(client: W3aClient, p: QuerySiteParameters): Promise<QuerySiteReturnType> {
  const account = requireAccount(client, 'site stats')
  const q = parseSiteQuery(p.query)
  const id = /^0x[0-9a-fA-F]{64}$/.test(q.site_id) ? (q.site_id.toLowerCase() as Hex) : (await siteFor(account, q.site_id)).id
  const now = Date.now()
  const range = dateRange(q.date_range, now)
  const mode = q.include?.comparisons?.mode
  if (mode && !range) throw new W3aError('INVALID_ARGUMENT', 'a comparison needs a date_range other than "all"')
  if (!p.goals && usesGoals(q)) p = { ...p, goals: (await getSiteSettings(client, { site: id })).goals }
  const current = await siteStats(client, id, q, range, p)
  let results = current.results
  const privacy = current.privacy
  if (mode && range) {
    const previous = await siteStats(client, id, q, comparisonRange(mode, range), p)
    results = withComparison(q, results, previous.results)
    addPrivacy(privacy, previous.privacy)
  }
  return {
    results,
    meta: { site_id: q.site_id, metrics: q.metrics, dimensions: q.dimensions, date_range: range && [new Date(range[0]).toISOString(), new Date(range[1]).toISOString()], privacy },
    query: q,
  }
}

/** Does the query group or filter by event:goal (the only use of the site's goals in SQL). */
export function usesGoals(q: Pick<SiteQuery, 'dimensions' | 'filters'>): boolean {
  return q.dimensions.includes('event:goal') || JSON.stringify(q.filters).includes('"event:goal"')
}

function addPrivacy(into: SitePrivacy, more: SitePrivacy): void {
  into.epsilon += more.epsilon
  into.epsilonLeft = more.epsilonLeft
  into.jobs.push(...more.jobs)
}

/**
 * One period's figures: the SQL aggregate, then (when asked) conversion_rate's totals query and
 * time_on_page's function job, each its own job and ε (meta.privacy adds them up).
 */
async function siteStats(client: W3aClient, id: Hex, q: SiteQuery, range: [number, number] | null, p: QuerySiteParameters): Promise<{ results: SiteResultRow[]; privacy: SitePrivacy }> {
  const goals = p.goals ?? []
  const plan = siteQuerySql(q, range, goals)
  const main = await runSiteJob(client, id, { sql: plan.sql }, p)
  let rows = siteRows(q, plan, main.columns, main.rows)
  const privacy = main.privacy
  if (q.metrics.includes('conversion_rate')) {
    const tq = conversionTotalsQuery(q)
    const tplan = siteQuerySql(tq, range, goals)
    const totals = await runSiteJob(client, id, { sql: tplan.sql }, p)
    rows = withConversionRate(q, rows, siteRows(tq, tplan, totals.columns, totals.rows))
    addPrivacy(privacy, totals.privacy)
  }
  rows = orderAndPage(q, rows)
  if (q.metrics.includes('time_on_page')) {
    const fn = timeOnPagePlan(q, range, goals, rows)
    const sums = fn ? await runSiteJob(client, id, { function: fn }, p) : null
    rows = withTimeOnPage(q, rows, sums ? functionSums(sums.rows, fn!) : null)
    if (sums) addPrivacy(privacy, sums.privacy)
  }
  return { results: rows, privacy }
}

/** A function job's noisy sums (its one row: sum_1 … sum_N, units). */
function functionSums(rows: unknown[][], fn: UnitFunctionPlan): (number | null)[] {
  const width = fn.output.kind === 'vector' ? fn.output.length : 1
  const row = rows[0] ?? []
  return Array.from({ length: width }, (_, i) => (row[i] === null || row[i] === undefined ? null : Number(row[i])))
}

export type QuerySiteFunnelParameters = Omit<QuerySiteParameters, 'query'> & {
  /** The domain the site was added for, or its id. */
  site: string
  funnel: Funnel
  date_range?: SiteQuery['date_range']
  filters?: SiteQuery['filters']
}

export type FunnelStep = { goal: string; visitors: number | null; conversion_rate: number | null; dropoff: number | null }
export type QuerySiteFunnelReturnType = { funnel: string; steps: FunnelStep[]; meta: { site_id: string; date_range: [string, string] | null; privacy: SitePrivacy } }

/**
 * A funnel (docs/site-owner.md, "Goals and funnels"): visitors who completed its steps in order,
 * one per-unit function job (site-unit-functions.ts): each visitor of a day answers how far they
 * went, and the noisy sums count the visitors who reached each step.
 */
export async function querySiteFunnel(client: W3aClient, p: QuerySiteFunnelParameters): Promise<QuerySiteFunnelReturnType> {
  const account = requireAccount(client, 'site funnel')
  const goals = p.goals ?? (await getSiteSettings(client, { site: p.site })).goals
  const steps = p.funnel.steps.map((name) => goalNamed(goals, name))
  const q = parseSiteQuery({ site_id: p.site, metrics: ['visitors'], ...(p.date_range ? { date_range: p.date_range } : {}), ...(p.filters ? { filters: p.filters } : {}) })
  const id = /^0x[0-9a-fA-F]{64}$/.test(p.site) ? (p.site.toLowerCase() as Hex) : (await siteFor(account, p.site)).id
  const range = dateRange(q.date_range, Date.now())
  const fn = funnelFunction({ range, goals, filters: q.filters.map(resolveFilter), steps })
  const out = await runSiteJob(client, id, { function: fn }, p)
  const sums = functionSums(out.rows, fn).map((x) => (x === null ? null : Math.max(0, Math.round(x))))
  const first = sums[0]
  return {
    funnel: p.funnel.name,
    steps: steps.map((g, i) => {
      const v = sums[i] ?? null
      const before = i === 0 ? null : (sums[i - 1] ?? null)
      return {
        goal: goalName(g),
        visitors: v,
        conversion_rate: v === null || !first ? null : Math.round((1000 * Math.min(v, first)) / first) / 10,
        dropoff: i === 0 || v === null || before === null ? null : Math.max(0, before - v),
      }
    }),
    meta: { site_id: p.site, date_range: range && [new Date(range[0]).toISOString(), new Date(range[1]).toISOString()], privacy: out.privacy },
  }
}

/** How many times a job is asked when the site's manifest keeps changing under it. */
const MANIFEST_RETRIES = 4
/** The wait before the n-th retry: the registry takes a flush's manifest a few blocks before the keepers replay its custody command, and a job submitted in between fails again. */
const retryDelayMs = (attempt: number) => 1000 * 2 ** (attempt - 1)

/** One job on the site's dataset: SQL (with the site's contribution bounds) or a per-unit function. */
async function runSiteJob(client: W3aClient, id: Hex, analysis: { sql: string } | { function: UnitFunctionPlan }, p: Omit<QuerySiteParameters, 'query'>): Promise<{ columns: string[]; rows: unknown[][]; privacy: SitePrivacy }> {
  const account = requireAccount(client, 'site stats')
  const { network, publicClient } = await chainReader(client)
  // The owner's own credit: the site is listed at price 0 for its owner only.
  const { credits } = await getCredits(publicClient, { market: network.contracts.market, analyst: account.address, datasetId: id })
  if (credits === 0n) await buyCredits(client, { id, credits: 10n })
  const isSql = 'sql' in analysis
  const run = () =>
    runQuery(client, {
      id,
      ...(isSql ? { sql: analysis.sql } : { function: analysis.function }),
      ...(p.epsilon === undefined ? {} : { epsilon: p.epsilon }),
      // A function sees up to 1000 of a visitor's rows of the day (its default); SQL the site's bounds.
      ...(p.epsilon === 0 || !isSql ? {} : { contribution: SITE_CONTRIBUTION }),
      ...(p.onProgress ? { onProgress: p.onProgress } : {}),
      ...(p.timeoutMs === undefined ? {} : { timeoutMs: p.timeoutMs }),
    })
  let out
  // The ingest worker appended a segment between the job's submission and its run (the job's
  // input is the manifest at submission): such a job is refunded; ask again, a few times, waiting
  // longer each time (a busy site may flush again during the next one).
  for (let attempt = 1; ; attempt++) {
    try {
      out = await run()
      break
    } catch (e) {
      if (attempt >= MANIFEST_RETRIES || !isW3aError(e, 'JOB_FAILED') || !/manifest changed/.test(e.message)) throw e
      p.onProgress?.('wait', `the site's data changed during the job; asking again (${attempt + 1} of ${MANIFEST_RETRIES})`)
      await new Promise((r) => setTimeout(r, retryDelayMs(attempt)))
    }
  }
  const rows = out.rows.map((r) => r.map((v) => (typeof v === 'bigint' ? Number(v) : v)))
  return { columns: out.columns.map((c) => c.name), rows, privacy: privacyOf(out.privacy, String(out.jobId)) }
}

function privacyOf(p: ReleasePrivacy, jobId: string): SitePrivacy {
  const noise = Object.keys(p.noiseScale).length > 0 ? p.noiseScale : null
  return { k: p.k, suppressed: p.suppressed, noise, epsilon: p.epsilonSpent, mechanism: p.mechanism, epsilonLeft: p.epsilonLeft, jobs: [jobId] }
}
