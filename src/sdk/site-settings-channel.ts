/**
 * The SDK's side of a site's goals and funnels kept by the ingest enclave
 * (src/enclave/ingest-site-settings.ts): which site and which ingest worker a request names, the
 * worker's key settings are sealed to, a fresh box key for the answer, and the check of the
 * enclave's signed answer. The worker is the site's writer as the chain records it (the owner
 * named it at `site add`) and its key the one it registered there, never what the gateway says;
 * the answer must be signed by that worker for this very request and open with this request's
 * box key: a gateway relays ciphertext it can neither read, forge nor replay.
 */
import { bytesToHex, isAddressEqual, keccak256, recoverMessageAddress, type Address, type Hex, type LocalAccount } from 'viem'
import { W3aError } from '../core/errors.js'
import { generateHpkeKeyPair, type HpkeKeyPair } from '../crypto/hpke.js'
import { getDatasetWriter, getWorker } from '../chain/portable.js'
import { ANSWER_INFO, openSettings, siteSettingsAnswerText, type SiteSettingsAnswer } from '../enclave/ingest-site-settings.js'
import { chainReader } from './custody-channel.js'
import { siteFor } from './actions/site-id.js'
import type { W3aClient } from './client.js'
import type { SiteSettings } from './site-settings.js'

/** A site's goals and funnels as the ingest enclave keeps them: `version` 0 until first set. */
export type SiteSettingsState = SiteSettings & { site: Hex; ingest: Address; version: number; updatedAt: number }

/** The site, its ingest worker (the writer on chain) and that worker's registered HPKE key. */
export type SiteSettingsTarget = { site: Hex; ingest: Address; ingestKey: Hex; chainId: number }

/** The ingest worker the site's owner named as its writer, as the chain records it (never the gateway's word). */
export async function siteIngestWorker(client: W3aClient, id: Hex): Promise<{ ingest: Address; chainId: number }> {
  const { network, publicClient } = await chainReader(client)
  const ingest = await getDatasetWriter(publicClient, { registry: network.contracts.datasetRegistry, id }).catch(() => undefined)
  if (!ingest || /^0x0{40}$/.test(ingest)) throw new W3aError('SITE_NOT_REGISTERED', `site ${id} has no ingest worker as its writer yet`, { details: ['Add it first: w3a site add DOMAIN'] })
  return { ingest: ingest.toLowerCase() as Address, chainId: network.chainId }
}

/** The site (`site`: the domain it was added for, or its id), the ingest worker its owner named as writer, and that worker's registered key. */
export async function settingsTarget(client: W3aClient, account: LocalAccount, site: string): Promise<SiteSettingsTarget> {
  const id = /^0x[0-9a-fA-F]{64}$/.test(site) ? (site.toLowerCase() as Hex) : (await siteFor(account, site)).id
  const { ingest, chainId } = await siteIngestWorker(client, id)
  const { network, publicClient } = await chainReader(client)
  const worker = await getWorker(publicClient, { registry: network.contracts.workerRegistry, worker: ingest })
  return { site: id, ingest, ingestKey: worker.hpkePublicKey, chainId }
}

/** A key pair whose public half a request names: the answer's settings are sealed to it. */
export async function answerBox(): Promise<{ box: Hex; keys: HpkeKeyPair }> {
  const keys = await generateHpkeKeyPair()
  return { box: bytesToHex(keys.publicKey), keys }
}

/** POSTs a signed request and checks the answer: signed by the site's writer, for this request, about this site; opens its settings. */
export async function sendSettingsRequest(client: W3aClient, path: string, t: SiteSettingsTarget, request: { signature: Hex } & Record<string, unknown>, keys: HpkeKeyPair): Promise<SiteSettingsState> {
  const a = await client.gateway.sendJson<SiteSettingsAnswer>(path, request)
  const { signature, sealed, ...answer } = a
  const signer = await recoverMessageAddress({ message: siteSettingsAnswerText(answer, t.chainId), signature }).catch(() => undefined)
  if (!signer || !isAddressEqual(signer, t.ingest) || a.site !== t.site || a.request !== keccak256(request.signature)) {
    throw new W3aError('SIGNATURE_INVALID', "the site settings answer is not signed by the site's ingest worker for this request", { details: [`Expected worker ${t.ingest} (the site's writer on chain); the gateway may have changed the answer.`] })
  }
  const settings = await openSettings(sealed, { privateKey: keys.privateKey, info: ANSWER_INFO, site: t.site, settingsHash: a.settingsHash })
  return { site: a.site, ingest: a.ingest, version: a.version, ...settings, updatedAt: a.updatedAt }
}
