/**
 * A site's goals and funnels (docs/site-owner.md, "Goals and funnels"), kept in the ingest
 * enclave's sealed site book (ingest-sites.ts) so that the CLI and the dashboard read and change
 * one copy, and no operator can read, change or roll it back.
 *
 * Who may: the site's owner only, as the site book recorded it from the owner's verified
 * registration. A request is EIP-191 signed by the owner over one of the texts below, names this
 * enclave (a request for another ingest worker is refused here) and must be within
 * MAX_REQUEST_AGE_S of this enclave's clock, as realtime stats requests (ingest-stats.ts).
 * Secrecy: goal names can be business secrets, and the gateway and host relay everything. A write
 * carries the settings HPKE-sealed to this enclave's attested key (SETTINGS_INFO, aad = the site
 * id) and their keccak256 in the signed text; every answer carries them sealed to the `box` key
 * the owner's signed request names (ANSWER_INFO), so only the requester opens them.
 * Roll-back: a write carries the whole settings value and a `version` that must be exactly the
 * kept one plus 1. A replayed or older signed write is refused (SITE_SETTINGS_OUTDATED), and so
 * is a write made on settings another writer changed since they were read: the writer reads
 * again and makes its change on what is kept (nothing is lost silently).
 * What is checked: the whole value with the SDK's rules (checkSiteSettings: goalSchema,
 * funnelSchema, MAX_GOALS, MAX_FUNNELS, duplicates, funnel steps that are goals); a refusal names
 * the first wrong entry.
 * Answers are signed by this enclave's worker key over siteSettingsAnswerText, bound to the
 * request they answer (the hash of its signature) and to the sealed settings (their hash), so a
 * gateway can neither forge an answer nor replay an old one (the SDK checks it against the site's
 * writer on chain: src/sdk/site-settings-channel.ts).
 */
import { hexToBytes, isAddressEqual, keccak256, recoverMessageAddress, type Address, type Hex, type LocalAccount } from 'viem'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { zodIssueText } from '../core/zod-issue.js'
import { openForSite, sealForSite, type Sealed } from './site-sealed.js'
import { checkSiteSettings, type SiteSettings } from '../sdk/site-settings.js'
import { MAX_REQUEST_AGE_S } from './ingest-stats.js'
import type { SiteBook, SiteRecord } from './ingest-sites.js'

/** A settings request's JSON body at most: 100 goals and 50 funnels of 8 steps at their longest (4-byte UTF-8 characters), sealed and hex-encoded, fit. */
export const MAX_SITE_SETTINGS_BODY = 2 * 1024 * 1024
/** HPKE info of a write's settings, sealed to the ingest enclave's key; aad = the site id's UTF-8 text. */
export const SETTINGS_INFO = new TextEncoder().encode('w3a/ingest/site-settings/v1')
/** HPKE info of an answer's settings, sealed to the request's box key; aad = the site id's UTF-8 text. */
export const ANSWER_INFO = new TextEncoder().encode('w3a/ingest/site-settings-answer/v1')

const hex = (n?: number) => z.string().regex(n ? new RegExp(`^0x[0-9a-fA-F]{${n}}$`) : /^0x[0-9a-fA-F]+$/)
const sealedSchema = z.strictObject({ enc: hex(64), ciphertext: hex() })
const requestBase = { site: z.string().regex(/^0x[0-9a-f]{64}$/), ingest: hex(40), box: hex(64), issuedAt: z.number().int().positive(), signature: hex() }
const writeSchema = z.strictObject({ ...requestBase, version: z.number().int().positive(), settingsHash: hex(64), sealed: sealedSchema })
const readSchema = z.strictObject(requestBase)

export type SiteSettingsWrite = z.infer<typeof writeSchema>
export type SiteSettingsRead = z.infer<typeof readSchema>
/** The enclave's signed answer to a read or a write: what is kept now, sealed to the request's box key. */
export type SiteSettingsAnswer = { site: Hex; ingest: Address; version: number; updatedAt: number; request: Hex; settingsHash: Hex; sealed: Sealed; signature: Hex }

/** The settings as bytes: UTF-8 JSON in a fixed shape and key order (what is sealed and hashed). */
export function settingsBytes(s: SiteSettings): Uint8Array {
  const canonical = { goals: s.goals.map((g) => ('event' in g ? { event: g.event } : { page: g.page })), funnels: s.funnels.map((f) => ({ name: f.name, steps: [...f.steps] })) }
  return new TextEncoder().encode(JSON.stringify(canonical))
}

/** Seals settings for `recipient` (the enclave's key for a write, the request's box key for an answer). */
export async function sealSettings(s: SiteSettings, p: { recipient: Uint8Array; info: Uint8Array; site: string }): Promise<{ sealed: Sealed; settingsHash: Hex }> {
  const bytes = settingsBytes(s)
  return { sealed: await sealForSite(bytes, p), settingsHash: keccak256(bytes) }
}

/** Opens sealed settings and checks they hash to `settingsHash` and follow the rules (checkSiteSettings). */
export async function openSettings(sealed: { enc: string; ciphertext: string }, p: { privateKey: Uint8Array; info: Uint8Array; site: string; settingsHash: string }): Promise<SiteSettings> {
  const bytes = await openForSite(sealed, p)
  if (keccak256(bytes) !== p.settingsHash.toLowerCase()) throw new W3aError('ACCESS_DENIED', 'the sealed site settings do not hash to the signed settingsHash')
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    throw new W3aError('INVALID_ARGUMENT', 'the sealed site settings are not JSON')
  }
  try {
    return checkSiteSettings(value)
  } catch (e) {
    throw e instanceof W3aError ? new W3aError(e.code, `site settings refused: ${e.shortMessage}`, { details: e.details }) : e
  }
}

/** The text the owner signs to set a site's settings (EIP-191). */
export function siteSettingsWriteText(r: Omit<SiteSettingsWrite, 'signature' | 'sealed'>, chainId: number): string {
  return `w3a site settings set v1\n${JSON.stringify({ chainId, site: r.site, ingest: r.ingest.toLowerCase(), version: r.version, settingsHash: r.settingsHash.toLowerCase(), box: r.box.toLowerCase(), issuedAt: r.issuedAt })}`
}

/** The text the owner signs to read them (EIP-191). */
export function siteSettingsReadText(r: Omit<SiteSettingsRead, 'signature'>, chainId: number): string {
  return `w3a site settings read v1\n${JSON.stringify({ chainId, site: r.site, ingest: r.ingest.toLowerCase(), box: r.box.toLowerCase(), issuedAt: r.issuedAt })}`
}

/** The text the ingest enclave signs (EIP-191, its worker key) over its answer; `request` is keccak256 of the request's signature. */
export function siteSettingsAnswerText(a: Omit<SiteSettingsAnswer, 'signature' | 'sealed'>, chainId: number): string {
  return `w3a site settings answer v1\n${JSON.stringify({ chainId, site: a.site, ingest: a.ingest.toLowerCase(), request: a.request.toLowerCase(), version: a.version, settingsHash: a.settingsHash.toLowerCase(), updatedAt: a.updatedAt })}`
}

type Context = { chainId: number; self: Address; nowS: number; book: Pick<SiteBook, 'get'> }

/** The checks every request shares: the site is registered here, the request names this enclave, is recent and is signed by the site's owner. */
async function checkOwner(what: string, r: { site: string; ingest: string; issuedAt: number; signature: string }, text: string, p: Context): Promise<SiteRecord> {
  const record = p.book.get(r.site)
  if (!record) throw new W3aError('SITE_NOT_REGISTERED', `${what}: site ${r.site} is not registered with this ingest worker`, { details: ['Its owner registers it: w3a site add DOMAIN'] })
  if (!isAddressEqual(r.ingest as Address, p.self)) throw new W3aError('ACCESS_DENIED', `${what} names ingest worker ${r.ingest}, not this one (${p.self})`)
  if (Math.abs(p.nowS - r.issuedAt) > MAX_REQUEST_AGE_S) throw new W3aError('COMMAND_EXPIRED', `${what} issued more than ${MAX_REQUEST_AGE_S} s from now`)
  const signer = await recoverMessageAddress({ message: text, signature: r.signature as Hex }).catch(() => null)
  if (!signer || !isAddressEqual(signer, record.owner)) throw new W3aError('SIGNATURE_INVALID', `${what} is not signed by the site's owner`, { details: [`The site's owner is ${record.owner}; sign with that account.`] })
  return record
}

function parse<T>(schema: z.ZodType<T>, what: string, raw: unknown): T {
  const parsed = schema.safeParse(raw)
  if (!parsed.success) throw new W3aError('INVALID_ARGUMENT', `${what}: ${zodIssueText(parsed.error)}`)
  return parsed.data
}

/**
 * An owner's signed write, checked (see the module comment) and kept in the site book: durable
 * when this returns the record. The version is compared after the last wait, right before the
 * write, so of two writes of one version only the first is kept.
 */
export async function applySettingsWrite(raw: unknown, p: Context & { book: Pick<SiteBook, 'get' | 'setSettings'>; hpkePrivateKey: Uint8Array }): Promise<{ record: SiteRecord; request: SiteSettingsWrite }> {
  const r = parse(writeSchema, 'site settings request', raw)
  await checkOwner('site settings request', r, siteSettingsWriteText(r, p.chainId), p)
  const settings = await openSettings(r.sealed, { privateKey: p.hpkePrivateKey, info: SETTINGS_INFO, site: r.site, settingsHash: r.settingsHash })
  const kept = p.book.get(r.site)?.settings?.version ?? 0
  if (r.version <= kept) {
    throw new W3aError('SITE_SETTINGS_OUTDATED', `site settings version ${r.version} is not newer than the kept version ${kept}: a replayed or outdated request`, { details: ['The settings changed since this request was made. Read them again and make the change on what is kept.'] })
  }
  if (r.version !== kept + 1) throw new W3aError('INVALID_ARGUMENT', `site settings version ${r.version} skips ahead: the next version is ${kept + 1}`)
  return { record: p.book.setSettings(r.site, { ...settings, version: r.version, issuedAt: r.issuedAt }), request: r }
}

/** An owner's signed read, checked: the site whose settings to answer. */
export async function checkSettingsRead(raw: unknown, p: Context): Promise<{ record: SiteRecord; request: SiteSettingsRead }> {
  const r = parse(readSchema, 'site settings read', raw)
  return { record: await checkOwner('site settings read', r, siteSettingsReadText(r, p.chainId), p), request: r }
}

/** What is kept for `record` now, sealed to the request's box key and signed by this enclave for that request. */
export async function signSettingsAnswer(record: SiteRecord, request: { box: string; signature: string }, p: { chainId: number; signer: LocalAccount }): Promise<SiteSettingsAnswer> {
  const s = record.settings
  const { sealed, settingsHash } = await sealSettings(s ?? { goals: [], funnels: [] }, { recipient: hexToBytes(request.box as Hex), info: ANSWER_INFO, site: record.site })
  const answer = { site: record.site, ingest: p.signer.address.toLowerCase() as Address, version: s?.version ?? 0, updatedAt: s?.issuedAt ?? 0, request: keccak256(request.signature as Hex), settingsHash }
  return { ...answer, sealed, signature: await p.signer.signMessage({ message: siteSettingsAnswerText(answer, p.chainId) }) }
}
