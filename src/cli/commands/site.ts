import { W3aError } from '../../core/errors.js'
import { siteFor, siteSnippet, getIngestInfo, getSiteStats } from '../../sdk/actions/site.js'
import { requireAccount } from '../../sdk/client.js'
import { PERIODS, STATS_DIMENSIONS, STATS_METRICS, type StatsRequest } from '../../enclave/ingest-stats.js'
import { ACCOUNT_OPTION, GATEWAY_OPTION, requireArg, type Command } from '../command.js'
import { clientFromOptions } from '../client-from-options.js'
import { table } from '../output.js'

export const siteAddCommand: Command = {
  path: ['site', 'add'],
  summary: 'Make a web-analytics site for DOMAIN (its id and script tag; docs/site-owner.md)',
  args: [{ name: 'DOMAIN', description: 'the website, e.g. shop.example' }],
  options: { ...GATEWAY_OPTION, ...ACCOUNT_OPTION },
  help: 'The site id is derived from your account and the domain: the same pair always gives the same site.',
  async run({ values, positionals, out }) {
    const client = await clientFromOptions(values, { needsAccount: 'site add' })
    const site = await siteFor(requireAccount(client, 'site add'), requireArg(positionals, 0, this))
    const ingest = await getIngestInfo(client)
    const snippet = siteSnippet({ gatewayUrl: client.gateway.url, siteId: site.id, ingestKey: ingest.hpkePublicKey })
    out.result({ id: site.id, domain: site.domain, owner: site.owner, ingestKey: ingest.hpkePublicKey, ingestWorker: ingest.address, snippet }, `site ${site.id}  ${site.domain}\nadd this tag to every page:\n${snippet}`)
  },
}

export const siteSnippetCommand: Command = {
  path: ['site', 'snippet'],
  summary: "Print a site's one script tag",
  args: [{ name: 'ID', description: 'site id (w3a site add)' }],
  options: { ...GATEWAY_OPTION },
  async run({ values, positionals, out }) {
    const id = requireArg(positionals, 0, this)
    if (!/^0x[0-9a-fA-F]{64}$/.test(id)) throw new W3aError('INVALID_ARGUMENT', `"${id}" is not a site id (0x followed by 64 hex digits)`)
    const client = await clientFromOptions(values)
    const ingest = await getIngestInfo(client)
    const snippet = siteSnippet({ gatewayUrl: client.gateway.url, siteId: id.toLowerCase() as `0x${string}`, ingestKey: ingest.hpkePublicKey })
    out.result({ id: id.toLowerCase(), snippet }, snippet)
  },
}

function list<T extends string>(raw: unknown, allowed: readonly T[], what: string): T[] {
  const items = typeof raw === 'string' && raw !== '' ? raw.split(',').map((s) => s.trim()) : []
  for (const i of items) if (!allowed.includes(i as T)) throw new W3aError('INVALID_ARGUMENT', `unknown ${what} "${i}"`, { details: [`Known: ${allowed.join(', ')}`] })
  return items as T[]
}

export const siteStatsCommand: Command = {
  path: ['site', 'stats'],
  summary: "A site's visitors, page views and more, k-thresholded inside the ingest enclave",
  args: [{ name: 'DOMAIN', description: 'the domain the site was added for (its id is derived from it)' }],
  options: {
    ...GATEWAY_OPTION,
    ...ACCOUNT_OPTION,
    metrics: { type: 'string', placeholder: 'LIST', description: `comma-separated: ${STATS_METRICS.join(', ')} (default visitors,pageviews)` },
    dimensions: { type: 'string', placeholder: 'DIM', description: `at most one: ${Object.keys(STATS_DIMENSIONS).join(', ')}` },
    period: { type: 'string', placeholder: 'P', description: `${Object.keys(PERIODS).join(', ')} (default 7d)` },
  },
  async run({ values, positionals, out }) {
    const metrics = list(values['metrics'] ?? 'visitors,pageviews', STATS_METRICS, 'metric')
    const dimensions = list(values['dimensions'], Object.keys(STATS_DIMENSIONS) as StatsRequest['dimensions'], 'dimension')
    const period = (values['period'] ?? '7d') as StatsRequest['period']
    if (!(period in PERIODS)) throw new W3aError('INVALID_ARGUMENT', `unknown period "${period}"`, { details: [`Known: ${Object.keys(PERIODS).join(', ')}`] })
    const client = await clientFromOptions(values, { needsAccount: 'site stats' })
    const answer = await getSiteStats(client, { domain: requireArg(positionals, 0, this), metrics, dimensions, period })
    const p = answer.meta.privacy
    const columns = [...dimensions, ...metrics]
    const rows = answer.results.map((r) => Object.fromEntries(columns.map((c, i) => [c, i < dimensions.length ? r.dimensions[i] : r.metrics[i - dimensions.length]])))
    const text = [table(rows, columns), `privacy: k=${p.k}, ${p.suppressed} group(s) under k left out`].join('\n')
    out.result(answer, text)
  },
}
