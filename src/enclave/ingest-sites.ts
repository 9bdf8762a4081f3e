/**
 * The sites this ingest enclave accepts events for (the allow-list), each with its dataset key
 * and the manifest its next segment appends to (docs/site-owner.md, "Registering a site").
 *
 * A site is registered by its owner's signed request (siteRegistrationText), carrying the site's
 * dataset key HPKE-sealed to this enclave's attested key: the host relays it and can neither read
 * the key nor register a site in an owner's name. The enclave checks that the owner and salt make
 * the site id (datasetIdFor, as the registry does), that the owner signed, that the request names
 * this enclave, that the key opens and hashes to what was signed, and that the initial manifest
 * is the site's. It appends only as the writer the owner named on chain and in custody; without
 * that its manifest updates are refused there, so nothing it does exceeds what the owner allowed.
 *
 * At rest: one sealed file (sealing key, label below) holding per site the owner, the dataset key,
 * the current manifest and how far the rows are in confirmed segments (`flushedThrough`, the row
 * number of ingest.ts). It is a file of the enclave's sealed head (ingest-state.ts): every change
 * is a new version the peers witness, so a host cannot restore an older copy (one that would undo
 * a queued deletion or a key rotation, or count rows twice); see docs/design/trust-boundary.md.
 *
 * A visitor's deletion (ingest-visitor-rights.ts) is queued here (`deletions`) before its receipt
 * is signed, so it survives a kill -9; the rewrite of the stored segments under a new site key
 * (ingest-segment-rewrite.ts) is kept here with that key before the custody RotateKey carrying it
 * leaves the enclave, so a crash after custody applied it never loses the key that opens the site.
 * Once a site's key was rotated, a later registration by its owner keeps the enclave's key and
 * manifest (the owner's derived key opens only the segments made before the rotation).
 *
 * The site's goals and funnels, set and read by its owner's signed requests
 * (ingest-site-settings.ts), are kept here too, with their version: a re-registration keeps them.
 */
import { join } from 'node:path'
import { existsSync, unlinkSync } from 'node:fs'
import { bytesToHex, hexToBytes, isAddressEqual, keccak256, recoverMessageAddress, type Address, type Hex } from 'viem'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { zodIssueText } from '../core/zod-issue.js'
import { datasetIdFor } from '../crypto/typed-commands.js'
import { hpkeOpen } from '../crypto/hpke.js'
import { readSealedFile } from '../tee/index.js'
import { decodeManifest, encodeManifest, schemaHash, type DatasetManifest } from '../storage/index.js'
import { SITE_SCHEMA } from './ingest-segments.js'
import type { IngestHead } from './ingest-state.js'
import type { SiteSettings } from '../sdk/site-settings.js'

export const SITES_LABEL = 'w3a/enclave/ingest-sites/v1'
/** HPKE info of the site key sealed to the ingest enclave; aad = the site id's UTF-8 text. */
export const SITE_KEY_INFO = new TextEncoder().encode('w3a/ingest/site-key/v1')
export const MAX_REGISTRATION_AGE_S = 300

/** A site's goals and funnels as kept: their version (each write adds 1) and when the owner signed them. */
export type KeptSiteSettings = SiteSettings & { version: number; issuedAt: number }

export type SiteRecord = {
  site: Hex
  owner: Address
  domain: string
  /** The DatasetRegistry the owner signed for (its updateManifest takes this enclave's appends). */
  registry: Address
  dek: Uint8Array
  manifestCid: string
  manifest: DatasetManifest
  /** Highest row number (ingest.ts EventRow.n) in a confirmed segment; -1 before the first. */
  flushedThrough: number
  registeredAt: number
  /** Visitors (pseudonymous ids) whose deletion has not reached the stored segments yet. */
  deletions: string[]
  /** A rewrite stored and signed, waiting for its RotateKey and manifest update to be mined. */
  rewrite?: PendingRewrite
  /** Roots of old segments and manifests still to unpin from storage. */
  unpin: string[]
  /** Finished rewrites per visitor (the last MAX_REWRITTEN): what a visitor's 'rewrite' receipt states. */
  rewritten: Rewritten[]
  /** True once the enclave advanced the site key (RotateKey): re-registrations keep the key. */
  rotated: boolean
  /** The owner's goals and funnels (ingest-site-settings.ts); absent until first set. */
  settings?: KeptSiteSettings
}

export type PendingRewrite = { visitors: string[]; dek: Uint8Array; manifestCid: string; manifest: DatasetManifest; removed: Record<string, number>; unpin: string[] }
/** `manifestCid`: the site's manifest once its stored segments no longer held the visitor's rows. */
export type Rewritten = { visitor: string; manifestCid: string; rows: number; at: number }
const MAX_REWRITTEN = 10_000

const hex = (n?: number) => z.string().regex(n ? new RegExp(`^0x[0-9a-fA-F]{${n}}$`) : /^0x[0-9a-fA-F]+$/)
const registrationSchema = z.strictObject({
  site: z.string().regex(/^0x[0-9a-f]{64}$/),
  owner: hex(40),
  salt: hex(64),
  domain: z.string().min(1).max(253),
  ingest: hex(40),
  /** The DatasetRegistry the site is registered in: where this enclave's manifest updates go. */
  registry: hex(40),
  manifestCid: z.string().min(1).max(128),
  keyHash: hex(64),
  sealedKey: z.strictObject({ enc: hex(64), ciphertext: hex() }),
  issuedAt: z.number().int().positive(),
  signature: hex(),
})
export type SiteRegistration = z.infer<typeof registrationSchema>

/** The text the owner signs (EIP-191) to register a site with one ingest enclave. */
export function siteRegistrationText(r: Omit<SiteRegistration, 'signature' | 'sealedKey'>, chainId: number): string {
  return `w3a site register v1\n${JSON.stringify({ chainId, site: r.site, owner: r.owner.toLowerCase(), salt: r.salt.toLowerCase(), domain: r.domain, ingest: r.ingest.toLowerCase(), registry: r.registry.toLowerCase(), manifestCid: r.manifestCid, keyHash: r.keyHash.toLowerCase(), issuedAt: r.issuedAt })}`
}

type StoredRewrite = Omit<PendingRewrite, 'dek' | 'manifest'> & { dek: Hex; manifest: Hex }
/** Files written before deletions reached segments have none of the rewrite fields. */
type Stored = Omit<SiteRecord, 'dek' | 'manifest' | 'rewrite' | 'deletions' | 'unpin' | 'rewritten' | 'rotated'> & { dek: Hex; manifest: Hex; rewrite?: StoredRewrite } & Partial<Pick<SiteRecord, 'deletions' | 'unpin' | 'rewritten' | 'rotated'>>

export class SiteBook {
  private sites = new Map<string, SiteRecord>()

  /** `dir` and `key`: only to move the site book of an earlier version (its own sealed file) into the head. */
  constructor(
    private readonly head: IngestHead,
    legacy: { dir: string; key: Uint8Array },
  ) {
    const path = join(legacy.dir, 'sites.sealed')
    const pinned = head.read('sites')
    const bytes = pinned ?? (existsSync(path) ? readSealedFile(path, legacy.key, SITES_LABEL) : undefined)
    if (bytes) {
      const stored = JSON.parse(new TextDecoder().decode(bytes)) as Stored[]
      for (const s of stored) {
        const rewrite = s.rewrite ? { ...s.rewrite, dek: hexToBytes(s.rewrite.dek), manifest: decodeManifest(hexToBytes(s.rewrite.manifest)) } : undefined
        const { rewrite: _r, ...rest } = s
        this.sites.set(s.site, { deletions: [], unpin: [], rewritten: [], rotated: false, ...rest, dek: hexToBytes(s.dek), manifest: decodeManifest(hexToBytes(s.manifest)), ...(rewrite ? { rewrite } : {}) })
      }
    }
    if (!pinned && bytes) this.save()
    if (existsSync(path)) unlinkSync(path)
  }

  get(site: string): SiteRecord | undefined {
    return this.sites.get(site)
  }

  all(): SiteRecord[] {
    return [...this.sites.values()]
  }

  /**
   * Checks an owner's registration (see the module comment) and keeps the site. `manifestOf`
   * fetches and verifies the initial manifest block by its CID (the host only carries bytes).
   */
  async register(raw: unknown, p: { chainId: number; self: Address; hpkePrivateKey: Uint8Array; nowS: number; manifestOf: (cid: string) => Promise<DatasetManifest> }): Promise<SiteRecord> {
    const parsed = registrationSchema.safeParse(raw)
    if (!parsed.success) throw new W3aError('INVALID_ARGUMENT', `site registration: ${zodIssueText(parsed.error)}`)
    const r = parsed.data
    const site = r.site as Hex
    if (datasetIdFor(r.owner as Address, r.salt as Hex).toLowerCase() !== site) throw new W3aError('ACCESS_DENIED', 'site registration: owner and salt do not make this site id')
    if (!isAddressEqual(r.ingest as Address, p.self)) throw new W3aError('ACCESS_DENIED', `site registration names ingest worker ${r.ingest}, not this one (${p.self})`)
    if (Math.abs(p.nowS - r.issuedAt) > MAX_REGISTRATION_AGE_S) throw new W3aError('COMMAND_EXPIRED', `site registration issued more than ${MAX_REGISTRATION_AGE_S} s from now`)
    const signer = await recoverMessageAddress({ message: siteRegistrationText(r, p.chainId), signature: r.signature as Hex }).catch(() => null)
    if (!signer || !isAddressEqual(signer, r.owner as Address)) throw new W3aError('SIGNATURE_INVALID', 'site registration is not signed by the site owner')
    const existing = this.sites.get(site)
    if (existing && existing.registeredAt >= r.issuedAt) return existing // a replay of this or an older registration changes nothing
    let dek: Uint8Array
    try {
      dek = await hpkeOpen({ recipientPrivateKey: p.hpkePrivateKey, enc: hexToBytes(r.sealedKey.enc as Hex), info: SITE_KEY_INFO, aad: new TextEncoder().encode(site) }, hexToBytes(r.sealedKey.ciphertext as Hex))
    } catch (cause) {
      throw new W3aError('HPKE_OPEN_FAILED', 'the site key does not open under this ingest key', { cause })
    }
    if (dek.length !== 32 || keccak256(dek) !== r.keyHash.toLowerCase()) throw new W3aError('ACCESS_DENIED', 'the site key does not hash to the keyHash the owner signed')
    // A re-registration with the same key keeps the manifest this enclave has appended to since; after a rotation, any does.
    const keep = existing && (existing.rotated || bytesToHex(existing.dek) === bytesToHex(dek))
    if (keep && existing.rotated) dek.fill(0)
    const manifest = keep ? existing.manifest : await p.manifestOf(r.manifestCid)
    if (manifest.datasetId.toLowerCase() !== site) throw new W3aError('MANIFEST_MALFORMED', 'the initial manifest is for another dataset')
    if (schemaHash(manifest.schema) !== schemaHash(SITE_SCHEMA)) throw new W3aError('MANIFEST_MALFORMED', 'the initial manifest does not have the site schema (docs/site-owner.md)')
    const record: SiteRecord = {
      site,
      owner: r.owner.toLowerCase() as Address,
      domain: r.domain,
      registry: r.registry.toLowerCase() as Address,
      dek: keep ? existing.dek : dek,
      manifestCid: keep ? existing.manifestCid : r.manifestCid,
      manifest,
      flushedThrough: existing?.flushedThrough ?? -1,
      registeredAt: r.issuedAt,
      deletions: existing?.deletions ?? [],
      ...(existing?.rewrite ? { rewrite: existing.rewrite } : {}),
      unpin: existing?.unpin ?? [],
      rewritten: existing?.rewritten ?? [],
      rotated: existing?.rotated ?? false,
      ...(existing?.settings ? { settings: existing.settings } : {}),
    }
    this.sites.set(site, record)
    this.save()
    return record
  }

  /**
   * A segment through row `through` is in the site's confirmed manifest `manifestCid`. The manifest
   * it replaces is unpinned at the next flush: each lists every segment, so keeping them all
   * would grow a busy site's storage with the square of its segments.
   */
  confirm(site: string, p: { manifestCid: string; manifest: DatasetManifest; through: number }): void {
    const s = this.sites.get(site)
    if (!s) throw new W3aError('INTERNAL', 'confirming a flush of an unknown site')
    const unpin = s.manifestCid === p.manifestCid ? s.unpin : [...s.unpin, s.manifestCid]
    this.sites.set(site, { ...s, manifestCid: p.manifestCid, manifest: p.manifest, flushedThrough: Math.max(s.flushedThrough, p.through), unpin })
    this.save()
  }

  /** A visitor's deletion, to reach the stored segments at the next rewrite (durable when this returns). */
  queueDeletion(site: string, visitor: string): void {
    const s = this.require(site)
    if (s.deletions.includes(visitor)) return
    this.sites.set(site, { ...s, deletions: [...s.deletions, visitor] })
    this.save()
  }

  /** A rewrite stored and about to be signed: kept, with its new key, before the command leaves. */
  setRewrite(site: string, rewrite: PendingRewrite): void {
    this.sites.set(site, { ...this.require(site), rewrite })
    this.save()
  }

  /**
   * The site's rewrite is mined (or was not needed: no stored segment held the visitors' rows,
   * `rewrite` absent): the new key and manifest become the site's, the old key is zeroed, the
   * visitors' deletions are done and the old roots wait to be unpinned.
   */
  finishRewrite(site: string, p: { visitors: readonly string[]; at: number; rewrite?: PendingRewrite }): void {
    const s = this.require(site)
    const r = p.rewrite
    const manifestCid = r?.manifestCid ?? s.manifestCid
    const done = p.visitors.map((visitor) => ({ visitor, manifestCid, rows: r?.removed[visitor] ?? 0, at: p.at }))
    const next: SiteRecord = {
      ...s,
      deletions: s.deletions.filter((v) => !p.visitors.includes(v)),
      rewritten: [...s.rewritten.filter((x) => !p.visitors.includes(x.visitor)), ...done].slice(-MAX_REWRITTEN),
    }
    delete next.rewrite
    if (r) {
      s.dek.fill(0)
      Object.assign(next, { dek: r.dek, manifestCid: r.manifestCid, manifest: r.manifest, unpin: [...s.unpin, ...r.unpin], rotated: true })
    }
    this.sites.set(site, next)
    this.save()
  }

  /** The owner's checked settings (ingest-site-settings.ts), durable when this returns. */
  setSettings(site: string, settings: KeptSiteSettings): SiteRecord {
    const next = { ...this.require(site), settings }
    this.sites.set(site, next)
    this.save()
    return next
  }

  /** Roots stored but linked by no manifest kept here (an abandoned flush): to unpin at the next flush. */
  addUnpin(site: string, roots: readonly string[]): void {
    const s = this.require(site)
    this.sites.set(site, { ...s, unpin: [...s.unpin, ...roots.filter((r) => !s.unpin.includes(r))] })
    this.save()
  }

  /** These roots are off the storage node. */
  unpinned(site: string, roots: readonly string[]): void {
    const s = this.require(site)
    this.sites.set(site, { ...s, unpin: s.unpin.filter((r) => !roots.includes(r)) })
    this.save()
  }

  private require(site: string): SiteRecord {
    const s = this.sites.get(site)
    if (!s) throw new W3aError('INVALID_ARGUMENT', `site ${site} is not registered here`)
    return s
  }

  private save(): void {
    const stored: Stored[] = this.all().map(({ rewrite, ...s }) => ({
      ...s,
      dek: bytesToHex(s.dek),
      manifest: bytesToHex(encodeManifest(s.manifest)),
      ...(rewrite ? { rewrite: { ...rewrite, dek: bytesToHex(rewrite.dek), manifest: bytesToHex(encodeManifest(rewrite.manifest)) } } : {}),
    }))
    this.head.save({ sites: new TextEncoder().encode(JSON.stringify(stored)) })
  }
}
