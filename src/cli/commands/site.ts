import { createServer } from 'node:http'
import { W3aError, isW3aError } from '../../core/errors.js'
import { addSite, getIngestInfo, listSites, siteFor, siteSnippet } from '../../sdk/actions/site.js'
import { getSiteRealtime } from '../../sdk/actions/getSiteRealtime.js'
import { querySite, usesGoals } from '../../sdk/actions/querySite.js'
import { DIMENSION_NAMES, SITE_METRICS, type SiteDimension, type SiteQueryInput } from '../../sdk/plausible-query.js'
import { requireAccount, type W3aClient } from '../../sdk/client.js'
import { STATS_DIMENSIONS, STATS_METRICS, type StatsRequest } from '../../enclave/ingest-stats.js'
import { parsePolicy, type CustodyPolicyInput } from '../../custody/policy.js'
import { SITE_POLICY } from '../../enclave/ingest-segments.js'
import { setDatasetPolicy } from '../../sdk/actions/custody/setDatasetPolicy.js'
import { ACCOUNT_OPTION, GATEWAY_OPTION, requireArg, type Command } from '../command.js'
import { clientFromOptions, pinsDirFrom } from '../client-from-options.js'
import { loadSiteSettings } from '../site-settings.js'
import { table } from '../output.js'

const POLICY_OPTIONS = {
  k: { type: 'string', placeholder: 'N', description: 'minimum distinct visitors per released row (default 10)' },
  epsilon: { type: 'string', placeholder: 'E', description: 'ε a stats query spends by default (default 0.1)' },
  'epsilon-budget': { type: 'string', placeholder: 'E', description: 'total ε of the site, all analysts together (default 3)' },
  'analyst-epsilon-budget': { type: 'string', placeholder: 'E', description: "each analyst's share, yours included (default 1)" },
  'min-epsilon': { type: 'string', placeholder: 'E', description: 'least ε one query may spend (default 0.05; budget / min ε bounds the number of queries, and so the total δ)' },
  'allow-exact': { type: 'boolean', description: 'also allow exact whole-site totals (k only), a few per analyst' },
} as const

/** The site policy terms given on the command line (the schema's classes and bounds stay the site's). */
function policyTerms(values: Record<string, unknown>): CustodyPolicyInput | undefined {
  const n = (name: string) => (values[name] === undefined ? undefined : Number(values[name]))
  const terms: CustodyPolicyInput = {
    ...(n('k') !== undefined ? { k: n('k')! } : {}),
    ...(n('epsilon') !== undefined ? { defaultEpsilon: n('epsilon')! } : {}),
    ...(n('epsilon-budget') !== undefined ? { epsilonBudget: n('epsilon-budget')! } : {}),
    ...(n('analyst-epsilon-budget') !== undefined ? { analystEpsilonBudget: n('analyst-epsilon-budget')! } : {}),
    ...(n('min-epsilon') !== undefined ? { minEpsilon: n('min-epsilon')! } : {}),
    ...(values['allow-exact'] === true ? { allowExact: true } : {}),
  }
  return Object.keys(terms).length > 0 ? terms : undefined
}

export const siteAddCommand: Command = {
  path: ['site', 'add'],
  summary: 'Register DOMAIN as a web-analytics site: a W3A dataset the ingest worker appends to (docs/site-owner.md)',
  args: [{ name: 'DOMAIN', description: 'the website, e.g. shop.example' }],
  options: { ...GATEWAY_OPTION, ...ACCOUNT_OPTION, ...POLICY_OPTIONS },
  help: [
    'Checks the ingest worker\'s attestation, registers the site\'s dataset (key in custody, the site',
    'policy: DP by default), names the ingest worker its writer on chain and in custody, lists it at',
    'price 0 for you only, and registers the site with the ingest worker (its key sealed to the',
    "worker's attested key). The site id and key are derived from your account and the domain, so",
    'running it again finishes an interrupted run. Prints the script tag for your pages.',
  ].join('\n'),
  async run({ values, positionals, out }) {
    const client = await clientFromOptions(values, { needsAccount: 'site add' })
    const policy = policyTerms(values)
    const site = await addSite(client, { domain: requireArg(positionals, 0, this), ...(policy ? { policy } : {}), onProgress: (s) => out.progress(`${s}…`) })
    out.result(
      { id: site.id, domain: site.domain, owner: site.owner, ingestKey: site.ingestKey, ingestWorker: site.ingestWorker, manifestCid: site.manifestCid, snippet: site.snippet, steps: site.steps },
      `site ${site.id}  ${site.domain}\nwriter (ingest worker) ${site.ingestWorker}\nadd this tag to every page:\n${site.snippet}`,
    )
  },
}

export const siteLsCommand: Command = {
  path: ['site', 'ls'],
  summary: 'List your sites: id, domain, status, segments and rows waiting at the ingest worker',
  options: { ...GATEWAY_OPTION, ...ACCOUNT_OPTION },
  async run({ values, out }) {
    const client = await clientFromOptions(values, { needsAccount: 'site ls' })
    const sites = await listSites(client)
    out.result(
      sites,
      sites.length === 0 ? 'no sites (w3a site add DOMAIN)' : table(sites.map((s) => ({ id: s.id, domain: s.domain, status: s.status, segments: s.segments ?? '?', waiting: s.pending ?? '?', writer: s.writer })), ['id', 'domain', 'status', 'segments', 'waiting', 'writer']),
    )
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

export const sitePolicyCommand: Command = {
  path: ['site', 'policy'],
  summary: "Change a site's privacy terms (k, ε per query, ε budget, exact totals); the site schema's classes and bounds stay",
  args: [{ name: 'DOMAIN', description: 'the domain the site was added for' }],
  options: { ...GATEWAY_OPTION, ...ACCOUNT_OPTION, ...POLICY_OPTIONS },
  async run({ values, positionals, out }) {
    const client = await clientFromOptions(values, { needsAccount: 'site policy' })
    const site = await siteFor(requireAccount(client, 'site policy'), requireArg(positionals, 0, this))
    const policy = parsePolicy({ ...SITE_POLICY, ...(policyTerms(values) ?? {}) })
    const r = await setDatasetPolicy(client, { id: site.id, policy })
    out.result({ id: site.id, index: r.index, policy }, `policy of ${site.domain} set: k=${policy.k}, ε per query ${policy.defaultEpsilon}, ε budget ${policy.epsilonBudget} (${policy.analystEpsilonBudget} per analyst)${policy.allowExact ? ', exact totals allowed' : ''}`)
  },
}

function list<T extends string>(raw: unknown, allowed: readonly T[], what: string): T[] {
  const items = typeof raw === 'string' && raw !== '' ? raw.split(',').map((s) => s.trim()) : []
  for (const i of items) if (!allowed.includes(i as T)) throw new W3aError('INVALID_ARGUMENT', `unknown ${what} "${i}"`, { details: [`Known: ${allowed.join(', ')}`] })
  return items as T[]
}

const REALTIME = ['5m', '1h'] as const

/** --period as a Stats API date_range: a named period or FROM..TO (dates). */
export function periodRange(period: string): NonNullable<SiteQueryInput['date_range']> {
  const range = /^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$/.exec(period)
  return range ? [range[1]!, range[2]!] : (period as NonNullable<SiteQueryInput['date_range']>)
}

/** Dimensions: the listed names, and event:props:NAME for any NAME. */
function dimensionList(raw: unknown): SiteDimension[] {
  const items = typeof raw === 'string' && raw !== '' ? raw.split(',').map((s) => s.trim()) : []
  for (const i of items) if (!DIMENSION_NAMES.includes(i) && !/^event:props:.+/.test(i)) throw new W3aError('INVALID_ARGUMENT', `unknown dimension "${i}"`, { details: [`Known: ${DIMENSION_NAMES.join(', ')}`] })
  return items as SiteDimension[]
}

export const siteStatsCommand: Command = {
  path: ['site', 'stats'],
  summary: "A site's visitors, page views, sources and more: answered by a W3A job under the site's policy",
  args: [{ name: 'DOMAIN', description: 'the domain the site was added for' }],
  options: {
    ...GATEWAY_OPTION,
    ...ACCOUNT_OPTION,
    metrics: { type: 'string', placeholder: 'LIST', description: `comma-separated: ${SITE_METRICS.join(', ')} (default visitors,pageviews)` },
    dimensions: { type: 'string', placeholder: 'LIST', description: `up to 3 of: ${DIMENSION_NAMES.join(', ')}` },
    period: { type: 'string', placeholder: 'P', description: 'day, 7d, 30d, month, 6mo, 12mo, year, all, FROM..TO (dates), or 5m / 1h for the realtime figure (default 7d)' },
    filter: { type: 'string', placeholder: 'DIM=V', description: 'only rows whose dimension is V (repeat with commas: visit:source=Google,event:page=/)' },
    compare: { type: 'boolean', description: 'add the previous period (its own jobs)' },
    yoy: { type: 'boolean', description: 'add the same dates a year earlier (its own jobs)' },
    epsilon: { type: 'string', placeholder: 'E', description: "ε to spend (default: the site policy's); 0 = exact totals where the policy allows" },
  },
  help: [
    'The query is translated into SQL over the site dataset and run as a job (it uses one of your',
    'free usage credits and the ε it names); conversion_rate adds a job for its denominator and',
    'time_on_page a per-unit function job. Goals (event:goal) are the site\'s (`w3a site goals`).',
    'Periods 5m and 1h are answered by the ingest worker from rows not yet in a segment (k rule, no',
    'job). The Plausible Stats API v2 body: `w3a site api`.',
  ].join('\n'),
  async run({ values, positionals, out }) {
    const domain = requireArg(positionals, 0, this)
    const period = String(values['period'] ?? '7d')
    const client = await clientFromOptions(values, { needsAccount: 'site stats' })
    if ((REALTIME as readonly string[]).includes(period)) {
      const metrics = list(values['metrics'] ?? 'visitors,pageviews', STATS_METRICS, 'realtime metric')
      const dimensions = list(values['dimensions'], Object.keys(STATS_DIMENSIONS) as StatsRequest['dimensions'], 'realtime dimension')
      const answer = await getSiteRealtime(client, { domain, metrics, dimensions, period: period as StatsRequest['period'] })
      const columns = [...dimensions, ...metrics]
      const rows = answer.results.map((r) => Object.fromEntries(columns.map((c, i) => [c, i < dimensions.length ? r.dimensions[i] : r.metrics[i - dimensions.length]])))
      out.result(answer, [table(rows, columns), `realtime (ingest worker): k=${answer.meta.privacy.k}, ${answer.meta.privacy.suppressed} group(s) under k left out`].join('\n'))
      return
    }
    const metrics = list(values['metrics'] ?? 'visitors,pageviews', SITE_METRICS, 'metric')
    const dimensions = dimensionList(values['dimensions'])
    if (values['compare'] === true && values['yoy'] === true) throw new W3aError('INVALID_ARGUMENT', 'give --compare or --yoy, not both')
    const mode = values['compare'] === true ? 'previous_period' : values['yoy'] === true ? 'year_over_year' : undefined
    const filters = typeof values['filter'] === 'string' ? values['filter'].split(',').map((f) => {
      const m = /^([a-z_]+:[^=]+)=(.*)$/.exec(f.trim())
      if (!m) throw new W3aError('INVALID_ARGUMENT', `--filter "${f}" is not DIMENSION=VALUE`)
      return ['is', m[1], [m[2]]]
    }) : []
    // The goals the ingest enclave keeps, when the query uses them (after the data dir's one-time import).
    const site = await siteFor(requireAccount(client, 'site stats'), domain)
    const goals = usesGoals({ dimensions, filters: filters as Parameters<typeof usesGoals>[0]['filters'] }) ? (await loadSiteSettings({ client, dataDir: pinsDirFrom(values), site: site.id, say: (line) => out.note(line) })).goals : []
    const epsilon = values['epsilon'] === undefined ? undefined : Number(values['epsilon'])
    const answer = await querySite(client, {
      query: { site_id: domain, metrics, dimensions, date_range: periodRange(period), filters, ...(mode ? { include: { comparisons: { mode } } } : {}) },
      goals,
      ...(epsilon === undefined ? {} : { epsilon }),
      onProgress: (stage, detail) => out.progress(`${stage}${detail ? `: ${detail}` : ''}…`),
    })
    const columns = [...dimensions, ...metrics]
    const rows = answer.results.map((r) => Object.fromEntries([...columns.map((c, i) => [c, i < dimensions.length ? r.dimensions[i] : r.metrics[i - dimensions.length]]), ...(r.comparison ? [['previous', r.comparison.metrics.join(' ')], ['change %', r.comparison.change.join(' ')]] : [])]))
    const p = answer.meta.privacy
    out.result(answer, [table(rows, [...columns, ...(mode ? ['previous', 'change %'] : [])]), `privacy: k=${p.k}, ${p.mechanism}, ε ${p.epsilon} (left ${Number(p.epsilonLeft.toFixed(6))})${p.suppressed === null ? ', groups under the threshold not shown' : `, ${p.suppressed} group(s) under k left out`}; job ${p.jobs.join(', ')}`].join('\n'))
  },
}

export const siteApiCommand: Command = {
  path: ['site', 'api'],
  summary: "Serve Plausible's Stats API v2 (POST /api/v2/query) on this machine, answered by W3A jobs with your account",
  options: { ...GATEWAY_OPTION, ...ACCOUNT_OPTION, port: { type: 'string', placeholder: 'N', description: 'port on 127.0.0.1 (default 8088)' } },
  help: [
    "Job answers are sealed to your wallet-derived key, so the Stats API runs where that key is: here,",
    'bound to 127.0.0.1. Point a Plausible client at http://127.0.0.1:PORT; `site_id` is the domain.',
  ].join('\n'),
  async run({ values, out }) {
    const client = await clientFromOptions(values, { needsAccount: 'site api' })
    requireAccount(client, 'site api')
    // Goals are read from the ingest enclave by querySite, for the queries that use them.
    const server = serveSiteApi(client)
    const port = values['port'] === undefined ? 8088 : Number(values['port'])
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    out.result({ url }, `Stats API at ${url}/api/v2/query (Ctrl-C to stop)`)
    await new Promise<void>((resolve) => {
      const stop = () => server.close(() => resolve())
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
  },
}

/** POST /api/v2/query → querySite (the site's goals are the ones its ingest enclave keeps); errors in the gateway's shape ({ error: { code, message, details } }). */
export function serveSiteApi(client: W3aClient): ReturnType<typeof createServer> {
  return createServer((req, res) => {
    const send = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body))
    if (req.method !== 'POST' || req.url !== '/api/v2/query') return send(404, { error: { code: 'INVALID_ARGUMENT', message: 'POST /api/v2/query only' } })
    let text = ''
    req.on('data', (d) => (text += d))
    req.on('end', () => {
      void (async () => {
        try {
          const query = JSON.parse(text) as { site_id?: unknown }
          const answer = await querySite(client, { query })
          send(200, answer)
        } catch (e) {
          const err = e instanceof W3aError ? e : new W3aError('INVALID_ARGUMENT', e instanceof SyntaxError ? 'body is not JSON' : String(e))
          send(isW3aError(err, 'INVALID_ARGUMENT') || isW3aError(err, 'QUERY_REFUSED') ? 400 : 500, err.toJSON())
        }
      })()
    })
  })
}
