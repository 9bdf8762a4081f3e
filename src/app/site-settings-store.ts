/**
 * A site's goals and funnels in the dashboard: the ones the site's ingest enclave keeps for its
 * owner (src/enclave/ingest-site-settings.ts), the same the CLI reads and changes (`w3a site
 * goals`). Loaded through the gateway when the site opens (a read this page's account signs) and
 * saved as the next version, signed here too (sdk.setSiteSettings); the answers are checked to
 * come from the site's ingest worker. The rules for a change are the SDK's (site-settings.ts).
 * A change made elsewhere since the load is not overwritten: the save is refused
 * (SITE_SETTINGS_OUTDATED), the current settings are shown, and the change can be made again.
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import { useSession } from './session.js'
import type { SiteSettings } from './sdk.js'

/** The settings shown, their version (a save sends the next one) and why they could not be loaded, if so. */
export type ShownSiteSettings = SiteSettings & { version: number; loadError?: unknown }

const NONE: ShownSiteSettings = { goals: [], funnels: [], version: 0 }

/**
 * The site's settings (none until its id is known: it takes the owner's signature) and
 * `change(rule)`: applies a rule (it throws when the change is refused) and saves it.
 */
export function useSiteSettings(siteId: string | undefined): [ShownSiteSettings, (rule: (s: SiteSettings) => SiteSettings) => Promise<void>] {
  const { sdk, client } = useSession()
  const [settings, setSettings] = useState<ShownSiteSettings>(NONE)
  // The latest settings and their load in flight: a change waits for the load, then applies to what it gave.
  const latest = useRef<{ shown: ShownSiteSettings; loading: Promise<void> }>({ shown: NONE, loading: Promise.resolve() })
  const show = (s: ShownSiteSettings) => {
    latest.current.shown = s
    setSettings(s)
  }
  const load = (site: string) => {
    latest.current.loading = sdk.getSiteSettings(client, { site }).then(show, (loadError: unknown) => show({ ...NONE, loadError }))
    return latest.current.loading
  }
  useEffect(() => {
    if (siteId) void load(siteId)
  }, [siteId])
  const change = async (rule: (s: SiteSettings) => SiteSettings) => {
    if (!siteId) throw new Error('the site id is not known yet: wait for the account to sign it')
    await latest.current.loading
    const { goals, funnels, version } = latest.current.shown
    try {
      show(await sdk.setSiteSettings(client, { site: siteId, settings: rule({ goals, funnels }), version: version + 1 }))
    } catch (e) {
      if (sdk.isW3aError(e, 'SITE_SETTINGS_OUTDATED')) await load(siteId)
      throw e
    }
  }
  return [settings, change]
}
