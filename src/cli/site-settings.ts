/**
 * The CLI's read and change of a site's goals and funnels, kept by the ingest enclave
 * (getSiteSettings / setSiteSettings), with the one-time import of the file earlier versions
 * kept in the data dir (site-config.ts).
 */
import type { Hex } from 'viem'
import { isW3aError } from '../core/errors.js'
import type { W3aClient } from '../sdk/client.js'
import { getSiteSettings } from '../sdk/actions/getSiteSettings.js'
import { setSiteSettings } from '../sdk/actions/setSiteSettings.js'
import type { SiteSettingsState } from '../sdk/site-settings-channel.js'
import type { SiteSettings } from '../sdk/site-settings.js'
import { markImported, readLocalSiteSettings } from './site-config.js'

type Where = { client: W3aClient; dataDir: string; site: Hex; say: (line: string) => void }

/** The site's settings; first imports the data dir's file when the enclave has none (and says so). */
export async function loadSiteSettings(w: Where): Promise<SiteSettingsState> {
  const kept = await getSiteSettings(w.client, { site: w.site })
  const local = kept.version === 0 ? readLocalSiteSettings(w.dataDir, w.site) : undefined
  if (!local) return kept
  const pushed = await setSiteSettings(w.client, { site: w.site, settings: local, version: 1 })
  const moved = markImported(w.dataDir, w.site)
  w.say(`imported ${local.goals.length} goal(s) and ${local.funnels.length} funnel(s) from this data dir into the site's settings kept by the ingest worker (the file is now ${moved})`)
  return pushed
}

/** How many times a change is made again on fresh settings when another writer changed them meanwhile. */
const ATTEMPTS = 3

/** Applies `rule` (site-settings.ts; it throws when the change is refused) to the kept settings and sends the next version. */
export async function changeSiteSettings(w: Where, rule: (s: SiteSettings) => SiteSettings): Promise<SiteSettingsState> {
  for (let attempt = 1; ; attempt++) {
    const s = await loadSiteSettings(w)
    try {
      return await setSiteSettings(w.client, { site: w.site, settings: rule({ goals: s.goals, funnels: s.funnels }), version: s.version + 1 })
    } catch (e) {
      if (attempt >= ATTEMPTS || !isW3aError(e, 'SITE_SETTINGS_OUTDATED')) throw e
    }
  }
}
