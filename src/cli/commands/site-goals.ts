/** `w3a site goals …`, `w3a site funnels …` and `w3a site funnel`: a site's goals and funnels (kept by the ingest enclave: site-settings.ts) and a funnel's figures. */
import { W3aError } from '../../core/errors.js'
import { siteFor } from '../../sdk/actions/site.js'
import { querySiteFunnel } from '../../sdk/actions/querySite.js'
import { goalName, type Goal } from '../../sdk/site-goals.js'
import { withFunnel, withGoal, withoutFunnel, withoutGoal, type SiteSettings } from '../../sdk/site-settings.js'
import { requireAccount } from '../../sdk/client.js'
import { ACCOUNT_OPTION, GATEWAY_OPTION, requireArg, type Command, type CommandContext } from '../command.js'
import { clientFromOptions, pinsDirFrom } from '../client-from-options.js'
import { table } from '../output.js'
import { changeSiteSettings, loadSiteSettings } from '../site-settings.js'
import { periodRange } from './site.js'

const DOMAIN_ARG = { name: 'DOMAIN', description: 'the domain the site was added for' }

/** The site (id from the account's signature) and where its settings are read and changed (the ingest enclave; the data dir for the one-time import). */
async function siteOf(cmd: Command, { values, positionals, out }: Pick<CommandContext, 'values' | 'positionals' | 'out'>, what: string) {
  const client = await clientFromOptions(values, { needsAccount: what })
  const site = await siteFor(requireAccount(client, what), requireArg(positionals, 0, cmd))
  return { client, site, where: { client, dataDir: pinsDirFrom(values), site: site.id, say: (line: string) => out.note(line) } }
}

const goalRows = (goals: readonly Goal[]) => goals.map((g) => ({ goal: goalName(g), kind: 'event' in g ? 'custom event' : 'page view', matches: 'event' in g ? `name = ${g.event}` : `page ${g.page}` }))

export const siteGoalsAddCommand: Command = {
  path: ['site', 'goals', 'add'],
  summary: 'Add a goal to a site: a custom event by name, or page views whose path matches a pattern',
  args: [DOMAIN_ARG],
  options: {
    ...GATEWAY_OPTION,
    ...ACCOUNT_OPTION,
    event: { type: 'string', placeholder: 'NAME', description: 'custom-event goal: events named NAME (w3a("event", NAME))' },
    page: { type: 'string', placeholder: 'PATH', description: 'page-view goal: paths matching PATH, * for any characters (/thanks*)' },
  },
  help: [
    "Goals and funnels are kept by the site's ingest worker, in its enclave's sealed state, and changed",
    "only by requests your account signs: the dashboard and every machine see the same ones. They apply",
    'when a query runs, so a new goal counts past events too. Use them with',
    '--dimensions event:goal, --metrics conversion_rate, --filter event:goal=NAME and in funnels.',
    'Example: w3a site goals add shop.example --event Signup; w3a site goals add shop.example --page "/thanks*"',
  ].join('\n'),
  async run(ctx) {
    const { event, page } = ctx.values
    if ((typeof event === 'string') === (typeof page === 'string')) throw new W3aError('INVALID_ARGUMENT', 'give exactly one of --event NAME or --page PATH')
    const { site, where } = await siteOf(this, ctx, 'site goals add')
    const goal: Goal = typeof event === 'string' ? { event } : { page: String(page) }
    const c = await changeSiteSettings(where, (s) => withGoal(s, goal))
    ctx.out.result({ site: site.id, domain: site.domain, goals: c.goals, version: c.version }, `goal "${goalName(goal)}" added to ${site.domain} (${c.goals.length} goal${c.goals.length === 1 ? '' : 's'}; settings version ${c.version})`)
  },
}

export const siteGoalsLsCommand: Command = {
  path: ['site', 'goals', 'ls'],
  summary: "List a site's goals",
  args: [DOMAIN_ARG],
  options: { ...GATEWAY_OPTION, ...ACCOUNT_OPTION },
  async run(ctx) {
    const { site, where } = await siteOf(this, ctx, 'site goals ls')
    const c = await loadSiteSettings(where)
    ctx.out.result({ site: site.id, domain: site.domain, goals: c.goals, funnels: c.funnels, version: c.version }, c.goals.length === 0 ? `no goals (w3a site goals add ${site.domain} --event NAME)` : table(goalRows(c.goals), ['goal', 'kind', 'matches']))
  },
}

/** `site goals rm` and `site funnels rm`: one entry of the site's settings, by name. */
function removeCommand(kind: 'goals' | 'funnels', summary: string, arg: { name: string; description: string }, remove: (s: SiteSettings, name: string, domain: string) => SiteSettings): Command {
  return {
    path: ['site', kind, 'rm'],
    summary,
    args: [DOMAIN_ARG, arg],
    options: { ...GATEWAY_OPTION, ...ACCOUNT_OPTION },
    async run(ctx) {
      const { site, where } = await siteOf(this, ctx, `site ${kind} rm`)
      const name = requireArg(ctx.positionals, 1, this)
      const c = await changeSiteSettings(where, (s) => remove(s, name, site.domain))
      ctx.out.result({ site: site.id, [kind]: c[kind] }, `${kind === 'goals' ? 'goal' : 'funnel'} "${name}" removed from ${site.domain}`)
    },
  }
}

export const siteGoalsRmCommand = removeCommand('goals', 'Remove a goal by its name (as `site goals ls` shows it)', { name: 'GOAL', description: 'the goal\'s name: the event name, or "Visit /path"' }, withoutGoal)

export const siteFunnelsAddCommand: Command = {
  path: ['site', 'funnels', 'add'],
  summary: 'Add a funnel: 2 to 8 of the site\'s goals, in order',
  args: [DOMAIN_ARG, { name: 'NAME', description: 'the funnel\'s name' }],
  options: { ...GATEWAY_OPTION, ...ACCOUNT_OPTION, steps: { type: 'string', placeholder: 'GOALS', description: 'comma-separated goal names, in order ("Visit /,Visit /pricing,Signup")' } },
  async run(ctx) {
    const { site, where } = await siteOf(this, ctx, 'site funnels add')
    const name = requireArg(ctx.positionals, 1, this)
    if (typeof ctx.values['steps'] !== 'string') throw new W3aError('INVALID_ARGUMENT', '--steps GOALS is required (comma-separated goal names, in order)')
    const steps = ctx.values['steps'].split(',').map((s) => s.trim()).filter((s) => s !== '')
    const c = await changeSiteSettings(where, (s) => withFunnel(s, { name, steps }))
    ctx.out.result({ site: site.id, funnels: c.funnels }, `funnel "${name}" added to ${site.domain}: ${steps.join(' → ')}`)
  },
}

export const siteFunnelsLsCommand: Command = {
  path: ['site', 'funnels', 'ls'],
  summary: "List a site's funnels",
  args: [DOMAIN_ARG],
  options: { ...GATEWAY_OPTION, ...ACCOUNT_OPTION },
  async run(ctx) {
    const { site, where } = await siteOf(this, ctx, 'site funnels ls')
    const c = await loadSiteSettings(where)
    ctx.out.result({ site: site.id, funnels: c.funnels }, c.funnels.length === 0 ? `no funnels (w3a site funnels add ${site.domain} NAME --steps GOAL,GOAL)` : table(c.funnels.map((f) => ({ funnel: f.name, steps: f.steps.join(' → ') })), ['funnel', 'steps']))
  },
}

export const siteFunnelsRmCommand = removeCommand('funnels', 'Remove a funnel by its name', { name: 'NAME', description: 'the funnel\'s name' }, withoutFunnel)

export const siteFunnelCommand: Command = {
  path: ['site', 'funnel'],
  summary: "A funnel's figures: visitors who completed its steps in order (one job, a per-unit function under DP)",
  args: [DOMAIN_ARG, { name: 'NAME', description: 'the funnel\'s name (w3a site funnels ls)' }],
  options: {
    ...GATEWAY_OPTION,
    ...ACCOUNT_OPTION,
    period: { type: 'string', placeholder: 'P', description: 'day, 7d, 30d, month, 6mo, 12mo, year, all or FROM..TO (dates) (default 7d)' },
    epsilon: { type: 'string', placeholder: 'E', description: "ε to spend (default: the site policy's)" },
  },
  help: [
    'Each visitor of a day answers how far in the steps they went, in order, inside the worker (the',
    'per-unit function of src/sdk/site-unit-functions.ts); the noisy sums count the visitors who',
    'reached each step. A visitor is a visitor of one day (opted-in visitors: across days).',
  ].join('\n'),
  async run(ctx) {
    const { client, site, where } = await siteOf(this, ctx, 'site funnel')
    const name = requireArg(ctx.positionals, 1, this)
    const c = await loadSiteSettings(where)
    const funnel = c.funnels.find((f) => f.name === name)
    if (!funnel) throw new W3aError('INVALID_ARGUMENT', `the site has no funnel "${name}"`, { details: [`Its funnels: ${c.funnels.map((f) => f.name).join(', ') || '(none)'}; add one: w3a site funnels add ${site.domain} NAME --steps GOAL,GOAL`] })
    const epsilon = ctx.values['epsilon'] === undefined ? undefined : Number(ctx.values['epsilon'])
    const answer = await querySiteFunnel(client, {
      site: site.id,
      funnel,
      goals: c.goals,
      date_range: periodRange(String(ctx.values['period'] ?? '7d')),
      ...(epsilon === undefined ? {} : { epsilon }),
      onProgress: (stage, detail) => ctx.out.progress(`${stage}${detail ? `: ${detail}` : ''}…`),
    })
    const p = answer.meta.privacy
    ctx.out.result(answer, [table(answer.steps.map((s, i) => ({ step: i + 1, goal: s.goal, visitors: s.visitors ?? '', 'conversion %': s.conversion_rate ?? '', dropoff: s.dropoff ?? '' })), ['step', 'goal', 'visitors', 'conversion %', 'dropoff']), `privacy: ${p.mechanism}, ε ${p.epsilon} (left ${Number(p.epsilonLeft.toFixed(6))}), noise scale ${JSON.stringify(p.noise)}; job ${p.jobs.join(', ')}`].join('\n'))
  },
}
