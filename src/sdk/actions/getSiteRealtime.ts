/**
 * A site's realtime figures (the last 5 minutes or hour, docs/site-owner.md), answered by the
 * site's ingest enclave from its acknowledged rows under the k rule, to the owner's signed
 * request (src/enclave/ingest-stats.ts). The answer comes sealed to a key made for this request
 * and signed by the site's ingest worker (its writer on chain), both checked here: the gateway
 * relays it without reading the figures, and cannot forge, change or replay them.
 * Fails with SITE_NOT_REGISTERED (the site was never added), SIGNATURE_INVALID (the account is not
 * the site's owner, or the answer is not the worker's), COMMAND_EXPIRED (the clock is off).
 */
import type { Hex } from 'viem'
import { openStatsAnswer, statsRequestText, type SealedStatsAnswer, type StatsAnswer, type StatsRequest } from '../../enclave/ingest-stats.js'
import { requireAccount, type W3aClient } from '../client.js'
import { answerBox, siteIngestWorker } from '../site-settings-channel.js'
import { siteFor } from './site-id.js'

export type GetSiteRealtimeParameters = {
  /** The domain the site was added for. */
  domain: string
  metrics: StatsRequest['metrics']
  dimensions: StatsRequest['dimensions']
  period: StatsRequest['period']
}
export type GetSiteRealtimeReturnType = StatsAnswer

export async function getSiteRealtime(client: W3aClient, p: GetSiteRealtimeParameters): Promise<GetSiteRealtimeReturnType> {
  const account = requireAccount(client, 'site stats')
  const site = await siteFor(account, p.domain)
  // The worker that must sign the answer is the site's writer on chain, never what the gateway says.
  const [{ ingest, chainId }, { box, keys }] = await Promise.all([siteIngestWorker(client, site.id), answerBox()])
  const base = { site: site.id, owner: site.owner, salt: site.salt, metrics: p.metrics, dimensions: p.dimensions, period: p.period, box, issuedAt: Math.floor(Date.now() / 1000) }
  const signature: Hex = await account.signMessage({ message: statsRequestText(base, chainId) })
  const sealed = await client.gateway.sendJson<SealedStatsAnswer>('/api/v1/sites/stats', { ...base, signature })
  return openStatsAnswer(sealed, { site: site.id, ingest, requestSignature: signature, chainId, boxPrivateKey: keys.privateKey })
}
