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
import { funnelSchema, goalSchema, type Funnel, type Goal } from '../sdk/site-goals.js'
import { withFunnel, withGoal, withoutFunnel, withoutGoal } from '../sdk/site-settings.js'

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

/** Each change reads the file, applies the rule (site-settings.ts) and writes it back. */
export function addGoal(dataDir: string, site: { id: Hex; domain: string }, goal: Goal): SiteConfig {
  return change(dataDir, site, (c) => withGoal(c, goal))
}

export function removeGoal(dataDir: string, site: { id: Hex; domain: string }, name: string): SiteConfig {
  return change(dataDir, site, (c) => withoutGoal(c, name, c.domain))
}

export function addFunnel(dataDir: string, site: { id: Hex; domain: string }, funnel: Funnel): SiteConfig {
  return change(dataDir, site, (c) => withFunnel(c, funnel))
}

export function removeFunnel(dataDir: string, site: { id: Hex; domain: string }, name: string): SiteConfig {
  return change(dataDir, site, (c) => withoutFunnel(c, name))
}

function change(dataDir: string, site: { id: Hex; domain: string }, rule: (c: SiteConfig) => SiteConfig): SiteConfig {
  const next = rule(readSiteConfig(dataDir, site))
  write(dataDir, next)
  return next
}
