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
import { dateRange, parseSiteQuery, shapeSiteRows, siteQuerySql, withComparison, type SiteQuery, type SiteResultRow } from '../plausible-query.js'
import { runQuery, type RunQueryParameters } from './analysis/runQuery.js'
import { buyCredits } from './market/buyCredits.js'
import { siteFor } from './site-id.js'

/** A visitor's events per group and the groups a visitor touches, bounded for DP (per-unit contribution). */
export const SITE_CONTRIBUTION = { maxRowsPerUnit: 10, maxGroupsPerUnit: 5 } as const

export type QuerySiteParameters = {
  /** Plausible Stats API v2 body; `site_id` is the domain the site was added for, or its id. */
  query: unknown
  /** ε of this query (default: the site policy's); 0 = exact (whole-dataset totals only, where the policy allows). */
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
  const current = await runSiteJob(client, id, q, range, p)
  let results = current.results
  const privacy = current.privacy
  if (q.include?.comparisons?.mode === 'previous_period') {
    if (!range) throw new W3aError('INVALID_ARGUMENT', 'a previous-period comparison needs a date_range other than "all"')
    const previous = await runSiteJob(client, id, q, [2 * range[0] - range[1], range[0]], p)
    results = withComparison(q, results, previous.results)
    privacy.epsilon += previous.privacy.epsilon
    privacy.epsilonLeft = previous.privacy.epsilonLeft
    privacy.jobs.push(...previous.privacy.jobs)
  }
  return {
    results,
    meta: { site_id: q.site_id, metrics: q.metrics, dimensions: q.dimensions, date_range: range && [new Date(range[0]).toISOString(), new Date(range[1]).toISOString()], privacy },
    query: q,
  }
}

async function runSiteJob(client: W3aClient, id: Hex, q: SiteQuery, range: [number, number] | null, p: QuerySiteParameters): Promise<{ results: SiteResultRow[]; privacy: SitePrivacy }> {
  const account = requireAccount(client, 'site stats')
  const plan = siteQuerySql(q, range)
  const { network, publicClient } = await chainReader(client)
  // The owner's own credit: the site is listed at price 0 for its owner only.
  const { credits } = await getCredits(publicClient, { market: network.contracts.market, analyst: account.address, datasetId: id })
  if (credits === 0n) await buyCredits(client, { id, credits: 10n })
  const run = () =>
    runQuery(client, {
      id,
      sql: plan.sql,
      ...(p.epsilon === undefined ? {} : { epsilon: p.epsilon }),
      ...(p.epsilon === 0 ? {} : { contribution: SITE_CONTRIBUTION }),
      ...(p.onProgress ? { onProgress: p.onProgress } : {}),
      ...(p.timeoutMs === undefined ? {} : { timeoutMs: p.timeoutMs }),
    })
  let out
  try {
    out = await run()
  } catch (e) {
    // The ingest worker appended a segment between the job's submission and its run (the job's
    // input is the manifest at submission): such a job is refunded; ask again once.
    if (!isW3aError(e, 'JOB_FAILED') || !/manifest changed/.test(e.message)) throw e
    out = await run()
  }
  const rows = out.rows.map((r) => r.map((v) => (typeof v === 'bigint' ? Number(v) : v)))
  return { results: shapeSiteRows(q, plan, out.columns.map((c) => c.name), rows), privacy: privacyOf(out.privacy, String(out.jobId)) }
}

function privacyOf(p: ReleasePrivacy, jobId: string): SitePrivacy {
  const noise = Object.keys(p.noiseScale).length > 0 ? p.noiseScale : null
  return { k: p.k, suppressed: p.suppressed, noise, epsilon: p.epsilonSpent, mechanism: p.mechanism, epsilonLeft: p.epsilonLeft, jobs: [jobId] }
}
