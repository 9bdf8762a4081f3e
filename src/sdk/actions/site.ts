/**
 * Web-analytics sites for their owner (docs/site-owner.md). A site id is a dataset id,
 * datasetIdFor(owner, salt), with salt = keccak256(the owner's EIP-191 signature of
 * "w3a site v1\n" ‖ domain): only the owner's key makes it (signatures are deterministic, RFC 6979),
 * so nothing needs storing and the same domain always gives the same site.
 */
import { keccak256, type Hex, type LocalAccount } from 'viem'
import { W3aError } from '../../core/errors.js'
import { datasetIdFor } from '../../crypto/typed-commands.js'
import { statsRequestText, type StatsAnswer, type StatsRequest } from '../../enclave/ingest-stats.js'
import { requireAccount, type W3aClient } from '../client.js'

export type Site = { id: Hex; domain: string; owner: Hex; salt: Hex }

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

export async function siteFor(account: LocalAccount, domain: string): Promise<Site> {
  const d = domain.trim().toLowerCase().replace(/^www\./, '')
  if (!DOMAIN.test(d)) throw new W3aError('INVALID_ARGUMENT', `"${domain}" is not a domain name (e.g. shop.example)`)
  const salt = keccak256(await account.signMessage({ message: `w3a site v1\n${d}` }))
  return { id: datasetIdFor(account.address, salt).toLowerCase() as Hex, domain: d, owner: account.address, salt }
}

/** The ingest worker's attested key, as the gateway relays it (check the quote before trusting it). */
export async function getIngestInfo(client: W3aClient): Promise<{ address: Hex; hpkePublicKey: Hex; measurement: Hex; quote: Hex; teeType: string }> {
  const res = await fetch(`${client.gateway.url}/api/v1/ingest`)
  const body = (await res.json()) as any
  if (!res.ok) throw new W3aError('GATEWAY_ERROR', body?.error?.message ?? `gateway answered ${res.status}`)
  return body
}

/** The one script tag for a site. */
export function siteSnippet(p: { gatewayUrl: string; siteId: Hex; ingestKey: Hex }): string {
  return `<script defer data-site="${p.siteId}" data-key="${p.ingestKey.slice(2)}" src="${p.gatewayUrl.replace(/\/+$/, '')}/js/w3a.js"></script>`
}

export async function getSiteStats(client: W3aClient, p: { domain: string; metrics: StatsRequest['metrics']; dimensions: StatsRequest['dimensions']; period: StatsRequest['period'] }): Promise<StatsAnswer> {
  const account = requireAccount(client, 'site stats')
  const site = await siteFor(account, p.domain)
  const { chainId } = await client.network()
  const base = { site: site.id, owner: site.owner, salt: site.salt, metrics: p.metrics, dimensions: p.dimensions, period: p.period, issuedAt: Math.floor(Date.now() / 1000) }
  const signature = await account.signMessage({ message: statsRequestText(base, chainId) })
  const res = await fetch(`${client.gateway.url}/api/v1/sites/stats`, { method: 'POST', body: JSON.stringify({ ...base, signature }) })
  const body = (await res.json()) as any
  if (!res.ok) throw new W3aError(body?.error?.code ?? 'GATEWAY_ERROR', body?.error?.message ?? `gateway answered ${res.status}`, { details: body?.error?.details ?? [] })
  return body as StatsAnswer
}
