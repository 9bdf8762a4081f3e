/**
 * A site's goals and funnels as the dashboard keeps them: in this browser's storage, under the
 * site id the owner's signature makes (sdk.siteFor), as the CLI keeps them in its data dir under
 * the same id (src/cli/site-config.ts). They are used only inside the jobs this page runs; the
 * rules for changing them are the SDK's (src/sdk/site-settings.ts), the same as the CLI's.
 */
import { useEffect, useState } from 'preact/hooks'
import type { SiteSettings } from './sdk.js'

const key = (siteId: string) => `w3a.site-settings.${siteId.toLowerCase()}`

export function readSiteSettings(siteId: string): SiteSettings {
  try {
    const v = JSON.parse(localStorage.getItem(key(siteId)) ?? 'null') as Partial<SiteSettings> | null
    return { goals: Array.isArray(v?.goals) ? v.goals : [], funnels: Array.isArray(v?.funnels) ? v.funnels : [] }
  } catch {
    return { goals: [], funnels: [] } // not JSON: written by something else; start empty rather than break the view
  }
}

/**
 * The site's settings (none until its id is known: it takes the owner's signature) and
 * `change(rule)`: applies a rule (it throws when the change is refused) and saves.
 */
export function useSiteSettings(siteId: string | undefined): [SiteSettings, (rule: (s: SiteSettings) => SiteSettings) => void] {
  const [settings, setSettings] = useState<SiteSettings>({ goals: [], funnels: [] })
  useEffect(() => {
    if (siteId) setSettings(readSiteSettings(siteId))
  }, [siteId])
  const change = (rule: (s: SiteSettings) => SiteSettings) => {
    if (!siteId) throw new Error('the site id is not known yet: wait for the account to sign it')
    const next = rule(readSiteSettings(siteId))
    localStorage.setItem(key(siteId), JSON.stringify(next))
    setSettings(next)
  }
  return [settings, change]
}
