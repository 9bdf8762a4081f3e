/**
 * Stats the ingest enclave answers from its acknowledged rows (the realtime side of the Stats
 * API, issue 12: the last 5 minutes or hour), to the site's owner only, under the k rule. Every
 * other period is answered by a W3A job over the site's dataset (src/sdk/actions/querySite.ts).
 *
 * Who asks: a request names the site, its owner and the salt the site id was made from
 * (site = datasetIdFor(owner, salt), as for any W3A dataset), and carries the owner's EIP-191
 * signature over statsRequestText(...). The enclave recomputes the site id and recovers the
 * signer itself; `issuedAt` must be within MAX_REQUEST_AGE_S of its clock.
 * What leaves: one row per dimension value, each aggregating at least k distinct visitors;
 * rows under k are dropped and counted in `suppressed` (totals too are subject to it).
 * How it leaves: sealed (HPKE) to the one-time `box` key the signed request names and signed by
 * this worker over the sealed bytes and the request (sealStatsAnswer), so the gateway relaying it
 * can neither read the site's figures nor forge, change or replay an answer (openStatsAnswer).
 */
import { concat, hexToBytes, keccak256, recoverMessageAddress, type Address, type Hex, type LocalAccount } from 'viem'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { zodIssueText } from '../core/zod-issue.js'
import { datasetIdFor } from '../crypto/typed-commands.js'
import { openForSite, sealForSite, type Sealed } from './site-sealed.js'
import type { EventRow } from './ingest.js'

export const STATS_METRICS = ['visitors', 'visits', 'pageviews', 'events'] as const
/** Plausible Stats API v2 dimension names → the row field they group by. */
export const STATS_DIMENSIONS = {
  'event:page': 'page',
  'event:name': 'name',
  'event:hostname': 'hostname',
  'visit:source': 'source',
  'visit:channel': 'channel',
  'visit:entry_page': 'entryPage',
  'visit:utm_source': 'utmSource',
  'visit:utm_medium': 'utmMedium',
  'visit:utm_campaign': 'utmCampaign',
  'visit:device': 'device',
  'visit:browser': 'browser',
  'visit:os': 'os',
  'visit:country': 'country',
} as const satisfies Record<string, keyof EventRow>
/** Realtime only: rows stay in enclave memory until they are in a segment and an hour old; longer periods are answered by jobs (docs/site-owner.md). */
export const PERIODS = { '5m': 5 * 60, '1h': 3600 } as const
export const MAX_REQUEST_AGE_S = 300

const requestSchema = z.strictObject({
  site: z.string().regex(/^0x[0-9a-f]{64}$/),
  owner: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  salt: z.string().regex(/^0x[0-9a-fA-F]{64}$/),
  metrics: z.array(z.enum(STATS_METRICS)).min(1).max(STATS_METRICS.length),
  dimensions: z.array(z.enum(Object.keys(STATS_DIMENSIONS) as [keyof typeof STATS_DIMENSIONS])).max(1),
  period: z.enum(Object.keys(PERIODS) as [keyof typeof PERIODS]),
  /** The requester's one-time X25519 public key: the answer is sealed to it. */
  box: z.string().regex(/^0x[0-9a-f]{64}$/),
  issuedAt: z.number().int().positive(),
  signature: z.string().regex(/^0x[0-9a-fA-F]+$/),
})
export type StatsRequest = z.infer<typeof requestSchema>
export type StatsAnswer = {
  site: string
  results: { dimensions: string[]; metrics: number[] }[]
  meta: {
    metrics: string[]
    dimensions: string[]
    period: string
    privacy: { k: number; suppressed: number; noise: null; epsilon: null }
    /** Only when the answer covers less than the period (a busy site's oldest rows left memory): the time (ms) it covers from. */
    from?: number
  }
}

/** The text the owner signs (EIP-191 personal message): every field but the signature, in a fixed order. */
export function statsRequestText(r: Omit<StatsRequest, 'signature'>, chainId: number): string {
  return `w3a site stats v2\n${JSON.stringify({ chainId, site: r.site, owner: r.owner.toLowerCase(), salt: r.salt.toLowerCase(), metrics: r.metrics, dimensions: r.dimensions, period: r.period, box: r.box, issuedAt: r.issuedAt })}`
}

/** HPKE info of a sealed stats answer (the site id is its AAD). */
export const STATS_ANSWER_INFO = new TextEncoder().encode('w3a/ingest/stats-answer/v1')

/** What the gateway relays back: the answer sealed to the request's box, and the worker's signature binding it to the request. */
export type SealedStatsAnswer = { site: Hex; ingest: Address; request: Hex; sealedHash: Hex; sealed: Sealed; signature: Hex }

/** The text the worker signs: the site, itself, the request (keccak256 of the owner's signature) and the sealed bytes' hash. */
export function statsAnswerText(a: Omit<SealedStatsAnswer, 'signature' | 'sealed'>, chainId: number): string {
  return `w3a site stats answer v1\n${JSON.stringify({ chainId, site: a.site, ingest: a.ingest.toLowerCase(), request: a.request.toLowerCase(), sealedHash: a.sealedHash.toLowerCase() })}`
}

const sealedHashOf = (s: Sealed): Hex => keccak256(concat([s.enc, s.ciphertext]))

/** The enclave's side: `answer` sealed to the request's box key and signed by `signer`, for this request only. */
export async function sealStatsAnswer(answer: StatsAnswer, request: Pick<StatsRequest, 'site' | 'box' | 'signature'>, p: { chainId: number; signer: LocalAccount }): Promise<SealedStatsAnswer> {
  const sealed = await sealForSite(new TextEncoder().encode(JSON.stringify(answer)), { recipient: hexToBytes(request.box as Hex), info: STATS_ANSWER_INFO, site: request.site })
  const signed = { site: request.site as Hex, ingest: p.signer.address.toLowerCase() as Address, request: keccak256(request.signature as Hex), sealedHash: sealedHashOf(sealed) }
  return { ...signed, sealed, signature: await p.signer.signMessage({ message: statsAnswerText(signed, p.chainId) }) }
}

/**
 * The requester's side: checks `a` is signed by `ingest` (the site's writer on chain, never the
 * gateway's word) over these sealed bytes, for the request whose signature is `requestSignature`,
 * about `site`; then opens it with the box's private key.
 */
export async function openStatsAnswer(a: SealedStatsAnswer, p: { site: Hex; ingest: Address; requestSignature: Hex; chainId: number; boxPrivateKey: Uint8Array }): Promise<StatsAnswer> {
  const sealed = a?.sealed
  const wellFormed = typeof sealed?.enc === 'string' && typeof sealed.ciphertext === 'string' && /^0x[0-9a-fA-F]+$/.test(sealed.enc) && /^0x[0-9a-fA-F]+$/.test(sealed.ciphertext)
  const signer = wellFormed && typeof a.signature === 'string' ? await recoverMessageAddress({ message: statsAnswerText({ site: a.site, ingest: a.ingest, request: a.request, sealedHash: sealedHashOf(sealed) }, p.chainId), signature: a.signature }).catch(() => undefined) : undefined
  if (!signer || signer.toLowerCase() !== p.ingest.toLowerCase() || a.site !== p.site || a.request !== keccak256(p.requestSignature)) {
    throw new W3aError('SIGNATURE_INVALID', "the stats answer is not signed by the site's ingest worker for this request", { details: [`Expected worker ${p.ingest} (the site's writer on chain); the gateway may have changed the answer.`] })
  }
  const bytes = await openForSite(sealed, { privateKey: p.boxPrivateKey, info: STATS_ANSWER_INFO, site: p.site })
  return JSON.parse(new TextDecoder().decode(bytes)) as StatsAnswer
}

/** Checks the owner's request (site id, signature, age); returns it parsed. */
export async function checkStatsRequest(raw: unknown, p: { chainId: number; nowS: number }): Promise<StatsRequest> {
  const parsed = requestSchema.safeParse(raw)
  if (!parsed.success) throw new W3aError('INVALID_ARGUMENT', `stats request: ${zodIssueText(parsed.error)}`)
  const r = parsed.data
  if (datasetIdFor(r.owner as Address, r.salt as Hex).toLowerCase() !== r.site) throw new W3aError('ACCESS_DENIED', 'stats request: owner and salt do not make this site id')
  if (Math.abs(p.nowS - r.issuedAt) > MAX_REQUEST_AGE_S) throw new W3aError('COMMAND_EXPIRED', `stats request issued more than ${MAX_REQUEST_AGE_S} s from now`)
  const signer = await recoverMessageAddress({ message: statsRequestText(r, p.chainId), signature: r.signature as Hex }).catch(() => null)
  if (signer?.toLowerCase() !== r.owner.toLowerCase()) throw new W3aError('SIGNATURE_INVALID', 'stats request is not signed by the site owner')
  return r
}

/**
 * The visitors the k rule counts in a group: those of its largest salt, and the pseudonymous
 * ones (one id across salts). A person has another daily id under each salt, and the host makes a
 * new salt at will by restarting the enclave: counted across salts, one person read by the owner
 * over a few restarts would pass as k visitors.
 */
function visitorsUnderOneSalt(perSalt: ReadonlyMap<string, number>): number {
  let largest = 0
  for (const [salt, n] of perSalt) if (salt !== '' && n > largest) largest = n
  return largest + (perSalt.get('') ?? 0)
}

/** Aggregates `rows` as asked; groups with fewer than k distinct visitors under one salt are suppressed (visitorsUnderOneSalt). */
export function answerStats(r: StatsRequest, rows: Iterable<EventRow>, k: number): StatsAnswer {
  const field = r.dimensions[0] ? STATS_DIMENSIONS[r.dimensions[0]] : undefined
  // One pass, counting into each group (no per-group row lists, no copies): an hour of 1 M events
  // is what the dashboard's first screen asks for, once for the totals and once per breakdown.
  const withVisits = r.metrics.includes('visits')
  // perSalt: new visitors by the salt that made their id ('' for pseudonyms, one id across salts).
  type Counts = { visitors: Set<string>; perSalt: Map<string, number>; sessions: Set<string> | undefined; pageviews: number; events: number }
  const groups = new Map<string, Counts>()
  for (const row of rows) {
    const g = field ? String(row[field]) : ''
    let c = groups.get(g)
    if (!c) groups.set(g, (c = { visitors: new Set(), perSalt: new Map(), sessions: withVisits ? new Set() : undefined, pageviews: 0, events: 0 }))
    const known = c.visitors.size
    c.visitors.add(row.visitor)
    if (c.visitors.size > known) c.perSalt.set(row.salt ?? '?', (c.perSalt.get(row.salt ?? '?') ?? 0) + 1)
    c.sessions?.add(row.session)
    if (row.name === 'pageview') c.pageviews++
    c.events++
  }
  const results: StatsAnswer['results'] = []
  let suppressed = 0
  for (const [value, c] of groups) {
    const visitors = c.visitors.size
    if (visitorsUnderOneSalt(c.perSalt) < k) {
      suppressed++
      continue
    }
    const m = { visitors, visits: c.sessions?.size ?? 0, pageviews: c.pageviews, events: c.events }
    results.push({ dimensions: field ? [value] : [], metrics: r.metrics.map((name) => m[name]) })
  }
  results.sort((a, b) => (b.metrics[0] ?? 0) - (a.metrics[0] ?? 0))
  return { site: r.site, results, meta: { metrics: r.metrics, dimensions: r.dimensions, period: r.period, privacy: { k, suppressed, noise: null, epsilon: null } } }
}
