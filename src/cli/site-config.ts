/**
 * A site's goals and funnels as the CLI kept them before the ingest enclave kept them
 * (src/enclave/ingest-site-settings.ts, docs/site-owner.md "Goals and funnels"): one JSON file
 * per site, `<data dir>/sites/<site id>.json`. It is read once, to import: when the enclave has
 * never had settings for the site (version 0) and the file has some, the CLI sends them as the
 * first version and renames the file `<site id>.imported.json`, so it is never read again and a
 * goal removed later does not come back.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import type { Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import { dataDirLayout } from '../core/data-dir.js'
import { funnelSchema, goalSchema } from '../sdk/site-goals.js'
import type { SiteSettings } from '../sdk/site-settings.js'

const siteConfigSchema = z.strictObject({ site: z.string(), domain: z.string(), goals: z.array(goalSchema), funnels: z.array(funnelSchema) })

export function siteConfigPath(dataDir: string, site: Hex): string {
  return join(dataDirLayout(dataDir).sitesDir, `${site.toLowerCase()}.json`)
}

/** The file's goals and funnels, or undefined when there is no file or it holds none. */
export function readLocalSiteSettings(dataDir: string, site: Hex): SiteSettings | undefined {
  const path = siteConfigPath(dataDir, site)
  if (!existsSync(path)) return undefined
  const r = siteConfigSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')))
  if (!r.success) throw new W3aError('INPUT_MALFORMED', `${path} is not a site's settings file`, { details: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) })
  return r.data.goals.length + r.data.funnels.length > 0 ? { goals: r.data.goals, funnels: r.data.funnels } : undefined
}

/** The file was imported: renamed, where it stays for reference. Returns the new path. */
export function markImported(dataDir: string, site: Hex): string {
  const to = siteConfigPath(dataDir, site).replace(/\.json$/, '.imported.json')
  renameSync(siteConfigPath(dataDir, site), to)
  return to
}
