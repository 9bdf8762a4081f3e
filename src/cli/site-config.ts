/**
 * A site's Stats API settings, its goals and funnels (docs/site-owner.md, "Goals and funnels"):
 * one JSON file per site in the data dir, `<data dir>/sites/<site id>.json`. They live beside the
 * owner's key because that is where the Stats API runs (job answers are sealed to the owner's
 * wallet-derived key: `w3a site stats` and `w3a site api` run here), and they are applied when a
 * query is made, so a goal added today counts past events too. Nothing in them is sent anywhere
 * but inside the SQL or function a job runs.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import type { Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import { writeFileAtomic } from '../core/atomic-write.js'
import { dataDirLayout } from '../core/data-dir.js'
import { funnelSchema, goalName, goalSchema, type Funnel, type Goal } from '../sdk/site-goals.js'

const siteConfigSchema = z.strictObject({ site: z.string(), domain: z.string(), goals: z.array(goalSchema).max(100), funnels: z.array(funnelSchema).max(50) })
export type SiteConfig = z.infer<typeof siteConfigSchema>

export function siteConfigPath(dataDir: string, site: Hex): string {
  return join(dataDirLayout(dataDir).sitesDir, `${site.toLowerCase()}.json`)
}

export function readSiteConfig(dataDir: string, site: { id: Hex; domain: string }): SiteConfig {
  const path = siteConfigPath(dataDir, site.id)
  if (!existsSync(path)) return { site: site.id, domain: site.domain, goals: [], funnels: [] }
  const r = siteConfigSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')))
  if (!r.success) throw new W3aError('INPUT_MALFORMED', `${path} is not a site's settings file`, { details: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) })
  return r.data
}

function write(dataDir: string, c: SiteConfig): void {
  writeFileAtomic(siteConfigPath(dataDir, c.site as Hex), `${JSON.stringify(c, null, 2)}\n`)
}

/** Adds a goal (INVALID_ARGUMENT if one of that name exists). */
export function addGoal(dataDir: string, site: { id: Hex; domain: string }, goal: Goal): SiteConfig {
  const c = readSiteConfig(dataDir, site)
  const g = goalSchema.parse(goal)
  if (c.goals.some((x) => goalName(x) === goalName(g))) throw new W3aError('INVALID_ARGUMENT', `the site already has the goal "${goalName(g)}"`)
  const next = { ...c, goals: [...c.goals, g] }
  write(dataDir, next)
  return next
}

/** Removes a goal by its name (INVALID_ARGUMENT if a funnel uses it, or there is none). */
export function removeGoal(dataDir: string, site: { id: Hex; domain: string }, name: string): SiteConfig {
  const c = readSiteConfig(dataDir, site)
  if (!c.goals.some((x) => goalName(x) === name)) throw new W3aError('INVALID_ARGUMENT', `the site has no goal "${name}"`, { details: [`Its goals: ${c.goals.map(goalName).join(', ') || '(none)'}`] })
  const user = c.funnels.find((f) => f.steps.includes(name))
  if (user) throw new W3aError('INVALID_ARGUMENT', `the funnel "${user.name}" uses the goal "${name}"`, { details: [`Remove the funnel first: w3a site funnels rm ${c.domain} "${user.name}"`] })
  const next = { ...c, goals: c.goals.filter((x) => goalName(x) !== name) }
  write(dataDir, next)
  return next
}

/** Adds a funnel whose steps name existing goals, in order. */
export function addFunnel(dataDir: string, site: { id: Hex; domain: string }, funnel: Funnel): SiteConfig {
  const c = readSiteConfig(dataDir, site)
  const f = funnelSchema.parse(funnel)
  const missing = f.steps.filter((s) => !c.goals.some((g) => goalName(g) === s))
  if (missing.length > 0) throw new W3aError('INVALID_ARGUMENT', `a funnel's steps are goals; the site has no goal ${missing.map((m) => `"${m}"`).join(', ')}`, { details: [`Its goals: ${c.goals.map(goalName).join(', ') || '(none)'}`, 'Add one: w3a site goals add DOMAIN --event NAME (or --page /path*)'] })
  if (c.funnels.some((x) => x.name === f.name)) throw new W3aError('INVALID_ARGUMENT', `the site already has a funnel "${f.name}"`)
  const next = { ...c, funnels: [...c.funnels, f] }
  write(dataDir, next)
  return next
}

export function removeFunnel(dataDir: string, site: { id: Hex; domain: string }, name: string): SiteConfig {
  const c = readSiteConfig(dataDir, site)
  if (!c.funnels.some((f) => f.name === name)) throw new W3aError('INVALID_ARGUMENT', `the site has no funnel "${name}"`)
  const next = { ...c, funnels: c.funnels.filter((f) => f.name !== name) }
  write(dataDir, next)
  return next
}
