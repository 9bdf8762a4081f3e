/**
 * A site's goals and funnels (docs/site-owner.md, "Goals and funnels"), kept in the ingest
 * enclave's sealed site book (ingest-sites.ts) so that the CLI and the dashboard read and change
 * one copy, and no operator can change or roll it back.
 *
 * Who may: the site's owner only, as the site book recorded it from the owner's verified
 * registration. A request is EIP-191 signed by the owner over one of the texts below, names this
 * enclave (a request for another ingest worker is refused here) and must be within
 * MAX_REQUEST_AGE_S of this enclave's clock, as realtime stats requests (ingest-stats.ts).
 * Roll-back: a write carries the whole settings value and a `version` that must be exactly the
 * kept one plus 1. A replayed or older signed write is refused (SITE_SETTINGS_OUTDATED), and so
 * is a write made on settings another writer changed since they were read: the writer reads
 * again and makes its change on what is kept (nothing is lost silently).
 * What is checked: the whole value with the SDK's rules (checkSiteSettings: goalSchema,
 * funnelSchema, MAX_GOALS, MAX_FUNNELS, duplicates, funnel steps that are goals); a refusal names
 * the first wrong entry.
 * What leaves: the settings and their version in an answer this enclave signs with its worker
 * key over siteSettingsAnswerText, bound to the request it answers (the hash of its signature),
 * so a gateway can neither forge an answer nor replay an old one (the SDK checks it against the
 * site's writer on chain: site-settings-channel.ts).
 */
import { isAddressEqual, keccak256, recoverMessageAddress, type Address, type Hex, type LocalAccount } from 'viem'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { checkSiteSettings, type SiteSettings } from '../sdk/site-settings.js'
import { MAX_REQUEST_AGE_S } from './ingest-stats.js'
import type { SiteBook, SiteRecord } from './ingest-sites.js'

/** A settings request's JSON body at most: 100 goals and 50 funnels of 8 steps at their longest fit. */
export const MAX_SITE_SETTINGS_BODY = 256 * 1024

const requestBase = {
  site: z.string().regex(/^0x[0-9a-f]{64}$/),
  ingest: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  issuedAt: z.number().int().positive(),
  signature: z.string().regex(/^0x[0-9a-fA-F]+$/),
}
const writeSchema = z.strictObject({ ...requestBase, version: z.number().int().positive(), settings: z.unknown() })
const readSchema = z.strictObject(requestBase)

export type SiteSettingsWrite = Omit<z.infer<typeof writeSchema>, 'settings'> & { settings: SiteSettings }
export type SiteSettingsRead = z.infer<typeof readSchema>
/** The enclave's signed answer to a read or a write: what is kept now. */
export type SiteSettingsAnswer = SiteSettings & { site: Hex; ingest: Address; version: number; updatedAt: number; request: Hex; signature: Hex }

/** The settings in a fixed shape and key order: the bytes every signed text below holds. */
function canonical(s: SiteSettings): SiteSettings {
  return { goals: s.goals.map((g) => ('event' in g ? { event: g.event } : { page: g.page })), funnels: s.funnels.map((f) => ({ name: f.name, steps: [...f.steps] })) }
}

/** The text the owner signs to set a site's settings (EIP-191). */
export function siteSettingsWriteText(r: Omit<SiteSettingsWrite, 'signature'>, chainId: number): string {
  return `w3a site settings set v1\n${JSON.stringify({ chainId, site: r.site, ingest: r.ingest.toLowerCase(), version: r.version, settings: canonical(r.settings), issuedAt: r.issuedAt })}`
}

/** The text the owner signs to read them (EIP-191). */
export function siteSettingsReadText(r: Omit<SiteSettingsRead, 'signature'>, chainId: number): string {
  return `w3a site settings read v1\n${JSON.stringify({ chainId, site: r.site, ingest: r.ingest.toLowerCase(), issuedAt: r.issuedAt })}`
}

/** The text the ingest enclave signs (EIP-191, its worker key) over its answer; `request` is keccak256 of the request's signature. */
export function siteSettingsAnswerText(a: Omit<SiteSettingsAnswer, 'signature'>, chainId: number): string {
  return `w3a site settings answer v1\n${JSON.stringify({ chainId, site: a.site, ingest: a.ingest.toLowerCase(), request: a.request.toLowerCase(), version: a.version, settings: canonical(a), updatedAt: a.updatedAt })}`
}

type Context = { chainId: number; self: Address; nowS: number; book: Pick<SiteBook, 'get' | 'setSettings'> }

/** The checks every request shares: the site is registered here, the request names this enclave, is recent and is signed by the site's owner. */
async function checkOwner(what: string, r: { site: string; ingest: string; issuedAt: number; signature: string }, text: string, p: Omit<Context, 'book'> & { book: Pick<SiteBook, 'get'> }): Promise<SiteRecord> {
  const record = p.book.get(r.site)
  if (!record) throw new W3aError('SITE_NOT_REGISTERED', `${what}: site ${r.site} is not registered with this ingest worker`, { details: ['Its owner registers it: w3a site add DOMAIN'] })
  if (!isAddressEqual(r.ingest as Address, p.self)) throw new W3aError('ACCESS_DENIED', `${what} names ingest worker ${r.ingest}, not this one (${p.self})`)
  if (Math.abs(p.nowS - r.issuedAt) > MAX_REQUEST_AGE_S) throw new W3aError('COMMAND_EXPIRED', `${what} issued more than ${MAX_REQUEST_AGE_S} s from now`)
  const signer = await recoverMessageAddress({ message: text, signature: r.signature as Hex }).catch(() => null)
  if (!signer || !isAddressEqual(signer, record.owner)) throw new W3aError('SIGNATURE_INVALID', `${what} is not signed by the site's owner`, { details: [`The site's owner is ${record.owner}; sign with that account.`] })
  return record
}

/**
 * An owner's signed write, checked (see the module comment) and kept in the site book: durable
 * when this returns the record. The version is compared after the signature's check, with no
 * wait between it and the write, so of two writes of one version only the first is kept.
 */
export async function applySettingsWrite(raw: unknown, p: Context): Promise<{ record: SiteRecord; signature: string }> {
  const parsed = writeSchema.safeParse(raw)
  if (!parsed.success) throw new W3aError('INVALID_ARGUMENT', `site settings request: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`)
  let settings: SiteSettings
  try {
    settings = checkSiteSettings(parsed.data.settings)
  } catch (e) {
    throw e instanceof W3aError ? new W3aError(e.code, `site settings refused: ${e.shortMessage}`, { details: e.details }) : e
  }
  const r = { ...parsed.data, settings }
  await checkOwner('site settings request', r, siteSettingsWriteText(r, p.chainId), p)
  const kept = p.book.get(r.site)?.settings?.version ?? 0
  if (r.version <= kept) {
    throw new W3aError('SITE_SETTINGS_OUTDATED', `site settings version ${r.version} is not newer than the kept version ${kept}: a replayed or outdated request`, { details: ['The settings changed since this request was made. Read them again and make the change on what is kept.'] })
  }
  if (r.version !== kept + 1) throw new W3aError('INVALID_ARGUMENT', `site settings version ${r.version} skips ahead: the next version is ${kept + 1}`)
  return { record: p.book.setSettings(r.site, { ...settings, version: r.version, issuedAt: r.issuedAt }), signature: r.signature }
}

/** An owner's signed read, checked: the site whose settings to answer. */
export async function checkSettingsRead(raw: unknown, p: Omit<Context, 'book'> & { book: Pick<SiteBook, 'get'> }): Promise<SiteSettingsRead & { record: SiteRecord }> {
  const parsed = readSchema.safeParse(raw)
  if (!parsed.success) throw new W3aError('INVALID_ARGUMENT', `site settings read: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`)
  const record = await checkOwner('site settings read', parsed.data, siteSettingsReadText(parsed.data, p.chainId), p)
  return { ...parsed.data, record }
}

/** What is kept for `record` now, signed by this enclave for the request whose signature is `requestSignature`. */
export async function signSettingsAnswer(record: SiteRecord, requestSignature: string, p: { chainId: number; signer: LocalAccount }): Promise<SiteSettingsAnswer> {
  const s = record.settings
  const answer = { site: record.site, ingest: p.signer.address.toLowerCase() as Address, version: s?.version ?? 0, ...canonical(s ?? { goals: [], funnels: [] }), updatedAt: s?.issuedAt ?? 0, request: keccak256(requestSignature as Hex) }
  return { ...answer, signature: await p.signer.signMessage({ message: siteSettingsAnswerText(answer, p.chainId) }) }
}
