/**
 * A site's goals and funnels (docs/site-owner.md, "Goals and funnels"), read from the ingest
 * enclave that keeps them with the owner's signed read (src/enclave/ingest-site-settings.ts); the
 * answer comes sealed to a key made for this read and signed by the site's ingest worker, both
 * checked here (site-settings-channel.ts).
 * Fails with SITE_NOT_REGISTERED (the site was never added), SIGNATURE_INVALID (the account is not
 * the site's owner, or the answer is not the worker's), COMMAND_EXPIRED (the clock is off).
 */
import type { Hex } from 'viem'
import { siteSettingsReadText } from '../../enclave/ingest-site-settings.js'
import { requireAccount, type W3aClient } from '../client.js'
import { answerBox, sendSettingsRequest, settingsTarget, type SiteSettingsState } from '../site-settings-channel.js'

export type GetSiteSettingsParameters = {
  /** The domain the site was added for, or its id. */
  site: string
}
export type GetSiteSettingsReturnType = SiteSettingsState

export async function getSiteSettings(client: W3aClient, p: GetSiteSettingsParameters): Promise<GetSiteSettingsReturnType> {
  const account = requireAccount(client, 'site settings')
  const t = await settingsTarget(client, account, p.site)
  const { box, keys } = await answerBox()
  const base = { site: t.site, ingest: t.ingest, box, issuedAt: Math.floor(Date.now() / 1000) }
  const signature: Hex = await account.signMessage({ message: siteSettingsReadText(base, t.chainId) })
  return sendSettingsRequest(client, '/api/v1/sites/settings/read', t, { ...base, signature }, keys)
}
