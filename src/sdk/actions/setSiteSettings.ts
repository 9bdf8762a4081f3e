/**
 * Sets a site's goals and funnels (docs/site-owner.md, "Goals and funnels"): the whole value,
 * checked here with the same rules as the enclave's (checkSiteSettings), sealed to the site's
 * ingest worker's registered key, signed by the owner and kept by the ingest enclave as `version`
 * (src/enclave/ingest-site-settings.ts), which must be the kept version plus 1. Make the change
 * on what getSiteSettings returned and pass its version + 1; a write another one overtook fails
 * with SITE_SETTINGS_OUTDATED: read again and redo the change.
 * Also fails with INVALID_ARGUMENT (naming the wrong goal or funnel), SITE_NOT_REGISTERED,
 * SIGNATURE_INVALID (not the owner's account, or an answer not the worker's), COMMAND_EXPIRED.
 */
import { hexToBytes, type Hex } from 'viem'
import { SETTINGS_INFO, sealSettings, siteSettingsWriteText } from '../../enclave/ingest-site-settings.js'
import { requireAccount, type W3aClient } from '../client.js'
import { checkSiteSettings, type SiteSettings } from '../site-settings.js'
import { answerBox, sendSettingsRequest, settingsTarget, type SiteSettingsState } from '../site-settings-channel.js'

export type SetSiteSettingsParameters = {
  /** The domain the site was added for, or its id. */
  site: string
  settings: SiteSettings
  /** The version these settings become: the one they were read at, plus 1. */
  version: number
}
export type SetSiteSettingsReturnType = SiteSettingsState

export async function setSiteSettings(client: W3aClient, p: SetSiteSettingsParameters): Promise<SetSiteSettingsReturnType> {
  const account = requireAccount(client, 'site settings')
  const settings = checkSiteSettings(p.settings)
  const t = await settingsTarget(client, account, p.site)
  const { sealed, settingsHash } = await sealSettings(settings, { recipient: hexToBytes(t.ingestKey), info: SETTINGS_INFO, site: t.site })
  const { box, keys } = await answerBox()
  const base = { site: t.site, ingest: t.ingest, version: p.version, settingsHash, box, issuedAt: Math.floor(Date.now() / 1000) }
  const signature: Hex = await account.signMessage({ message: siteSettingsWriteText(base, t.chainId) })
  return sendSettingsRequest(client, '/api/v1/sites/settings', t, { ...base, sealed, signature }, keys)
}
