/**
 * A site's goals and funnels as one value, and the rules for changing it (site-goals.ts defines a
 * goal and a funnel). Pure: they are kept in the ingest enclave's sealed site book
 * (src/enclave/ingest-site-settings.ts), which checks a whole value with checkSiteSettings; the
 * CLI and the dashboard change them here, then send the result signed by the site's owner.
 */
import { W3aError } from '../core/errors.js'
import type { z } from 'zod'
import { funnelSchema, goalName, goalSchema, type Funnel, type Goal } from './site-goals.js'

/** The value as `schema` reads it, or INVALID_ARGUMENT naming what is wrong (a form shows it as is). */
function valid<T>(schema: z.ZodType<T>, what: string, v: unknown): T {
  const r = schema.safeParse(v)
  if (r.success) return r.data
  throw new W3aError('INVALID_ARGUMENT', `not a valid ${what}: ${r.error.issues.map((i) => `${i.path.join('.') || what}: ${i.message}`).join('; ')}`, { details: [what === 'goal' ? 'A goal is a custom event name, or a page path starting with / (* for any characters: /blog/*)' : 'A funnel has a name and 2 to 8 steps, each a goal of the site'] })
}

export type SiteSettings = { goals: Goal[]; funnels: Funnel[] }

/** At most this many goals and funnels per site (each a CASE branch or a function step of every job that uses them). */
export const MAX_GOALS = 100
export const MAX_FUNNELS = 50

/** Adds a goal (INVALID_ARGUMENT if one of that name exists). */
export function withGoal<T extends SiteSettings>(c: T, goal: Goal): T {
  const g = valid(goalSchema, 'goal', goal)
  if (c.goals.length >= MAX_GOALS) throw new W3aError('INVALID_ARGUMENT', `a site has at most ${MAX_GOALS} goals`, { details: ['Remove one first: w3a site goals rm DOMAIN GOAL'] })
  if (c.goals.some((x) => goalName(x) === goalName(g))) throw new W3aError('INVALID_ARGUMENT', `the site already has the goal "${goalName(g)}"`)
  return { ...c, goals: [...c.goals, g] }
}

/** Removes a goal by its name (INVALID_ARGUMENT if a funnel uses it, or there is none). */
export function withoutGoal<T extends SiteSettings>(c: T, name: string, domain: string): T {
  if (!c.goals.some((x) => goalName(x) === name)) throw new W3aError('INVALID_ARGUMENT', `the site has no goal "${name}"`, { details: [`Its goals: ${c.goals.map(goalName).join(', ') || '(none)'}`] })
  const user = c.funnels.find((f) => f.steps.includes(name))
  if (user) throw new W3aError('INVALID_ARGUMENT', `the funnel "${user.name}" uses the goal "${name}"`, { details: [`Remove the funnel first: w3a site funnels rm ${domain} "${user.name}"`] })
  return { ...c, goals: c.goals.filter((x) => goalName(x) !== name) }
}

/** Adds a funnel whose steps name existing goals, in order. */
export function withFunnel<T extends SiteSettings>(c: T, funnel: Funnel): T {
  const f = valid(funnelSchema, 'funnel', funnel)
  if (c.funnels.length >= MAX_FUNNELS) throw new W3aError('INVALID_ARGUMENT', `a site has at most ${MAX_FUNNELS} funnels`, { details: ['Remove one first: w3a site funnels rm DOMAIN NAME'] })
  const missing = f.steps.filter((s) => !c.goals.some((g) => goalName(g) === s))
  if (missing.length > 0) throw new W3aError('INVALID_ARGUMENT', `a funnel's steps are goals; the site has no goal ${missing.map((m) => `"${m}"`).join(', ')}`, { details: [`Its goals: ${c.goals.map(goalName).join(', ') || '(none)'}`, 'Add one: w3a site goals add DOMAIN --event NAME (or --page /path*)'] })
  if (c.funnels.some((x) => x.name === f.name)) throw new W3aError('INVALID_ARGUMENT', `the site already has a funnel "${f.name}"`)
  return { ...c, funnels: [...c.funnels, f] }
}

export function withoutFunnel<T extends SiteSettings>(c: T, name: string): T {
  if (!c.funnels.some((f) => f.name === name)) throw new W3aError('INVALID_ARGUMENT', `the site has no funnel "${name}"`)
  return { ...c, funnels: c.funnels.filter((f) => f.name !== name) }
}

/**
 * A whole settings value as the rules above would have built it, goal by goal then funnel by
 * funnel: the same limits, duplicates and funnel steps; INVALID_ARGUMENT names the first wrong
 * entry (`goals[2]`, `funnels[0]`). What a value's owner sends is checked here before it is kept.
 */
export function checkSiteSettings(v: unknown): SiteSettings {
  const o = v as { goals?: unknown; funnels?: unknown } | null
  if (!o || typeof o !== 'object' || !Array.isArray(o.goals) || !Array.isArray(o.funnels) || Object.keys(o).some((k) => k !== 'goals' && k !== 'funnels')) {
    throw new W3aError('INVALID_ARGUMENT', 'site settings are { goals: [...], funnels: [...] }')
  }
  const at = <T>(what: string, i: number, add: () => T): T => {
    try {
      return add()
    } catch (e) {
      throw e instanceof W3aError ? new W3aError(e.code, `${what}[${i}]: ${e.shortMessage}`, { details: e.details }) : e
    }
  }
  let s: SiteSettings = { goals: [], funnels: [] }
  o.goals.forEach((g, i) => (s = at('goals', i, () => withGoal(s, g as Goal))))
  o.funnels.forEach((f, i) => (s = at('funnels', i, () => withFunnel(s, f as Funnel))))
  return s
}
