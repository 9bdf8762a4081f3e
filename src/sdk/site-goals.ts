/**
 * A site's goals and funnels (docs/site-owner.md, "Goals and funnels"), as Plausible defines them:
 * a custom-event goal counts events of one name, a page-view goal counts page views whose path
 * matches a pattern (`*` any characters: `/blog/*`). Goals are applied when a query runs, so a new
 * goal counts past events too. A funnel is 2 to 8 goals in order.
 *
 * One matching rule, written twice from the same pattern: as SQL (a LIKE over the site schema's
 * `page`, for the checked aggregate) and as JavaScript (for per-unit functions): `*` and `%` match
 * any characters, `_` one character (LIKE's wildcards: the checker takes LIKE without ESCAPE).
 */
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { sqlString } from '../storage/sql-literal.js'

const pagePattern = z.string().min(1).max(300).regex(/^\//, 'a page goal is a path starting with /')
export const goalSchema = z.union([z.strictObject({ event: z.string().min(1).max(120) }), z.strictObject({ page: pagePattern })])
export type Goal = z.infer<typeof goalSchema>
export const funnelSchema = z.strictObject({ name: z.string().min(1).max(120), steps: z.array(z.string().min(1).max(320)).min(2).max(8) })
export type Funnel = z.infer<typeof funnelSchema>

/** Plausible's display name: the event's name, or `Visit /path`. */
export function goalName(g: Goal): string {
  return 'event' in g ? g.event : `Visit ${g.page}`
}

/** The goal a display name names (INVALID_ARGUMENT listing the site's goals otherwise). */
export function goalNamed(goals: readonly Goal[], name: string): Goal {
  const g = goals.find((x) => goalName(x) === name)
  if (!g) throw new W3aError('INVALID_ARGUMENT', `the site has no goal "${name}"`, { details: [goals.length === 0 ? 'Add one: w3a site goals add DOMAIN --event NAME (or --page /path*)' : `Its goals: ${goals.map(goalName).join(', ')}`] })
  return g
}

const likeOf = (page: string) => page.replaceAll('*', '%')

/** SQL: does the row (site schema) complete goal g. */
export function goalConditionSql(g: Goal): string {
  return 'event' in g ? `name = ${sqlString(g.event)}` : `(name = 'pageview' AND page LIKE ${sqlString(likeOf(g.page))})`
}

/** SQL: the first of `goals` the row completes (its display name), NULL when none. */
export function goalCaseSql(goals: readonly Goal[]): string {
  if (goals.length === 0) throw new W3aError('INVALID_ARGUMENT', 'event:goal needs goals, and the site has none', { details: ['Add one: w3a site goals add DOMAIN --event NAME (or --page /path*)'] })
  return `CASE ${goals.map((g) => `WHEN ${goalConditionSql(g)} THEN ${sqlString(goalName(g))}`).join(' ')} END`
}

/** A JavaScript RegExp source equal to SQL's LIKE over `pattern` (% any, _ one character). */
export function likeRegExp(pattern: string): string {
  let out = '^'
  for (const ch of pattern) out += ch === '%' ? '[\\s\\S]*' : ch === '_' ? '[\\s\\S]' : ch.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&')
  return `${out}$`
}

/** The goals as data a per-unit function's source embeds (site-unit-functions.ts). */
export function goalMatchers(goals: readonly Goal[]): { name: string; event?: string; page?: string }[] {
  return goals.map((g) => ('event' in g ? { name: goalName(g), event: g.event } : { name: goalName(g), page: likeRegExp(likeOf(g.page)) }))
}
