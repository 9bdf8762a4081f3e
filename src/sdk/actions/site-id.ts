/**
 * What a site is, without registering it: its id from the owner's signature, the ingest worker's
 * key as the gateway relays it, and the script tag. Browser-safe (the dashboard imports it);
 * registration and stats are in site.ts.
 */
import { keccak256, type Address, type Hex, type LocalAccount } from 'viem'
import { W3aError } from '../../core/errors.js'
import { datasetIdFor } from '../../crypto/typed-commands.js'
import type { W3aClient } from '../client.js'

export type Site = { id: Hex; domain: string; owner: Hex; salt: Hex }

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
/** A site's dataset name on chain: how `site ls` tells sites from other datasets. */
export const SITE_NAME_PREFIX = 'site:'

export function normalDomain(domain: string): string {
  const d = domain.trim().toLowerCase().replace(/^www\./, '')
  if (!DOMAIN.test(d)) throw new W3aError('INVALID_ARGUMENT', `"${domain}" is not a domain name (e.g. shop.example)`)
  return d
}

export async function siteFor(account: LocalAccount, domain: string): Promise<Site> {
  const d = normalDomain(domain)
  const salt = keccak256(await account.signMessage({ message: `w3a site v1\n${d}` }))
  return { id: datasetIdFor(account.address, salt).toLowerCase() as Hex, domain: d, owner: account.address, salt }
}

export type IngestInfo = { address: Address; hpkePublicKey: Hex; measurement: Hex; quote: Hex; teeType: string }

/** The ingest worker's key, as the gateway relays it (check it with verifyIngest before trusting it). */
export async function getIngestInfo(client: W3aClient): Promise<IngestInfo> {
  const res = await fetch(`${client.gateway.url}/api/v1/ingest`)
  const body = (await res.json()) as any
  if (!res.ok) throw new W3aError('GATEWAY_ERROR', body?.error?.message ?? `gateway answered ${res.status}`)
  return body
}

/** The one script tag for a site. */
export function siteSnippet(p: { gatewayUrl: string; siteId: Hex; ingestKey: Hex }): string {
  return `<script defer data-site="${p.siteId}" data-key="${p.ingestKey.slice(2)}" src="${p.gatewayUrl.replace(/\/+$/, '')}/js/w3a.js"></script>`
}
