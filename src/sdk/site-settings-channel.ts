/**
 * The SDK's side of a site's goals and funnels kept by the ingest enclave
 * (src/enclave/ingest-site-settings.ts): which site and which ingest worker a request names, and
 * the check of the enclave's signed answer. The worker is the site's writer as the chain records
 * it (the owner named it at `site add`), never what the gateway says, and the answer must be
 * signed by that worker for this very request: a gateway can relay it, not forge or replay it.
 */
import { isAddressEqual, keccak256, recoverMessageAddress, type Address, type Hex, type LocalAccount } from 'viem'
import { W3aError } from '../core/errors.js'
import { getDatasetWriter } from '../chain/portable.js'
import { siteSettingsAnswerText, type SiteSettingsAnswer } from '../enclave/ingest-site-settings.js'
import { chainReader } from './custody-channel.js'
import { siteFor } from './actions/site-id.js'
import type { W3aClient } from './client.js'
import type { SiteSettings } from './site-settings.js'

/** A site's goals and funnels as the ingest enclave keeps them: `version` 0 until first set. */
export type SiteSettingsState = SiteSettings & { site: Hex; ingest: Address; version: number; updatedAt: number }

export type SiteSettingsTarget = { site: Hex; ingest: Address; chainId: number }

/** The site (`site`: the domain it was added for, or its id) and the ingest worker its owner named as writer. */
export async function settingsTarget(client: W3aClient, account: LocalAccount, site: string): Promise<SiteSettingsTarget> {
  const id = /^0x[0-9a-fA-F]{64}$/.test(site) ? (site.toLowerCase() as Hex) : (await siteFor(account, site)).id
  const { network, publicClient } = await chainReader(client)
  const ingest = await getDatasetWriter(publicClient, { registry: network.contracts.datasetRegistry, id }).catch(() => undefined)
  if (!ingest || /^0x0{40}$/.test(ingest)) throw new W3aError('SITE_NOT_REGISTERED', `site ${site} has no ingest worker as its writer yet`, { details: ['Add it first: w3a site add DOMAIN'] })
  return { site: id, ingest: ingest.toLowerCase() as Address, chainId: network.chainId }
}

/** POSTs a signed request and checks the answer: signed by the site's writer, for this request, about this site. */
export async function sendSettingsRequest(client: W3aClient, path: string, t: SiteSettingsTarget, request: { signature: Hex }): Promise<SiteSettingsState> {
  const a = await client.gateway.sendJson<SiteSettingsAnswer>(path, request)
  const { signature, ...answer } = a
  const signer = await recoverMessageAddress({ message: siteSettingsAnswerText(answer, t.chainId), signature }).catch(() => undefined)
  if (!signer || !isAddressEqual(signer, t.ingest) || a.site !== t.site || a.request !== keccak256(request.signature)) {
    throw new W3aError('SIGNATURE_INVALID', "the site settings answer is not signed by the site's ingest worker for this request", { details: [`Expected worker ${t.ingest} (the site's writer on chain); the gateway may have changed the answer.`] })
  }
  return { site: a.site, ingest: a.ingest, version: a.version, goals: a.goals, funnels: a.funnels, updatedAt: a.updatedAt }
}
