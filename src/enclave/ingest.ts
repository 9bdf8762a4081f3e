/**
 * The ingest role of a worker enclave (issue 12, DESIGN §3 part 7): sealed web-analytics events
 * in, acknowledged rows in the sealed write-ahead log out, and k-thresholded aggregates to the
 * site's owner. Per event: open (ingest-open.ts) → drop bots → visitor id from the day's salt
 * and session (ingest-visitors.ts) → labels (ingest-enrich.ts) → one row, durable before the ack.
 * The IP and user agent the host relays are used for the visitor id and the labels, then dropped.
 *
 * Only sites their owner registered with this enclave are accepted (ingest-sites.ts); events for
 * any other site are refused and counted, never stored. Acknowledged rows are batched into
 * Parquet segments sealed with the site's dataset key and appended to the site's dataset
 * (ingest-segments.ts, `prepareFlush`); once the host reports the manifest update mined
 * (`confirmFlush`) the rows leave the write-ahead log.
 *
 * The host is a courier: it relays envelopes (it cannot open them) with the request's IP and
 * user agent (its word: a lying host can only skew visitor counting), and it cannot make the
 * enclave answer stats except to a request the site's owner signed (ingest-stats.ts).
 */
import type { Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import { packagedCountryDb, type CountryDb } from './ingest-country.js'
import { encodeManifest, type DatasetManifest } from '../storage/index.js'
import { carOfBlock } from '../storage/car-of-block.js'
import { enrich, isBot, type Enriched } from './ingest-enrich.js'
import { decodeCheckpoint, encodeCheckpoint, IngestLog, type LogCheckpoint } from './ingest-log.js'
import type { IngestHead } from './ingest-state.js'
import { EventOpener } from './ingest-open.js'
import { appendSegment, MAX_DURATION_S, sealSiteSegment, siteRowsToParquet } from './ingest-segments.js'
import { SiteBook, type PendingRewrite, type Rewritten, type SiteRecord } from './ingest-sites.js'
import { rewriteSiteSegments, type RewriteSiteSegmentsParameters } from './ingest-segment-rewrite.js'
import { generateDatasetKey } from '../crypto/envelope.js'
import { VisitorBook } from './ingest-visitors.js'
import { ReplayGuard } from './ingest-replay-guard.js'
import { OptIns } from './ingest-visitor-rights.js'

/** What a visit is attributed to: its first event's page, source and UTM fields. */
type VisitEntry = Pick<Enriched, 'source' | 'channel' | 'utmSource' | 'utmMedium' | 'utmCampaign' | 'utmContent' | 'utmTerm'> & { entryPage: string }

/** One stored event: the web-analytics schema (docs/formats.md, "Web analytics rows"). */
export type EventRow = Enriched &
  VisitEntry & {
    site: string
    /** ISO 3166-1 alpha-2 code from the request's IP (ingest-country.ts), '' when unknown; the IP is not kept */
    country: string
    /** event time, ms since epoch, from this enclave's clock (the visitor's is not trusted) */
    ts: number
    name: string
    /** daily id (ingest-visitors.ts), or an opted-in visitor's pseudonymous id (ingest-visitor-rights.ts) */
    visitor: string
    /**
     * Which salt made `visitor` (ingest-visitors.ts), '' for an opted-in visitor's pseudonym (one
     * id across salts); absent in rows logged before it was kept. Memory and log only, not in segments.
     */
    salt?: string
    session: string
    /** custom props as JSON text ('' when none) */
    props: string
    revenueAmount: string
    revenueCurrency: string
    /** Row number, increasing across sites: how far a site's rows are in confirmed segments. */
    n: number
    /** 1 on a visit's first event (visits = Σ). */
    sessionStart: number
    /** +1 on a visit's first page view, −1 on its second (bounced visits = Σ). */
    bounce: number
    /** Seconds since the visit's previous event (visit time = Σ). */
    durationS: number
  }

export type IngestOutcome = { accepted: boolean; reason?: 'bot' | 'duplicate' }

/** A segment made and stored, waiting for its manifest update to be mined (confirmFlush). */
export type PreparedFlush = { site: Hex; manifestCid: string; manifest: DatasetManifest; through: number; rows: number }

/** The site's segments rewritten without deleted visitors' rows, under a new key, waiting for its RotateKey to be mined. */
export type PreparedRewrite = PendingRewrite & { site: Hex }

/** Rows not yet in a confirmed segment, at most: past it the host is told to push back (HTTP 429). */
const MAX_PENDING_ROWS = 1_000_000
/** Flushed rows stay in memory this long, for the realtime figure. */
export const REALTIME_WINDOW_MS = 60 * 60 * 1000
/**
 * Flushed rows kept for the realtime figure, at most (oldest dropped first): a row is about
 * 500 bytes in memory, so about 500 MB, and with the rows waiting for their segment no more rows
 * than before the cap (2 million in all). Without it a busy site would hold its whole last hour
 * (20,000 events/s is 72 million rows) or, as before, refuse events once 2 million were held.
 * Past it the "last hour" covers fewer minutes, and its answer says from when (coveredFrom); the
 * last 5 minutes stay whole up to 3,000 events/s. Rows larger than that (their sender's props) are
 * capped by their bytes too (MAX_HELD_BYTES).
 */
export const MAX_REALTIME_ROWS = 1_000_000
/**
 * Bytes of rows held, at most, on each side (waiting for their segment; flushed, for the realtime
 * figure): the row caps above assume about 500 bytes a row, but a client sets most of a row's size
 * (a sealed event may carry 6 KB of props), and 2 million rows of its making would be 13 GB.
 * Past it as past the row caps: INGEST_BUSY for new events, the oldest realtime rows dropped.
 */
export const MAX_HELD_BYTES = 512 * 1024 * 1024
/** A row's memory besides its client-sized strings (about 30 fields, the labels' strings shared). */
const ROW_OVERHEAD_BYTES = 400

/** About how much memory a row holds: its overhead and the strings whose length the event's sender sets. */
function rowBytes(r: EventRow): number {
  return ROW_OVERHEAD_BYTES + r.props.length + r.page.length + r.entryPage.length + r.hostname.length + r.name.length + r.source.length + r.utmSource.length + r.utmMedium.length + r.utmCampaign.length + r.utmContent.length + r.utmTerm.length
}

/** Rows per segment at most. */
export const MAX_SEGMENT_ROWS = 200_000
/**
 * Bytes of rows (rowBytes) per segment at most: 200,000 rows of the largest events (~7 KB each)
 * would make a 1.4 GB segment, copied to DuckDB and back (ingest-segments.ts), and a flush that
 * fails every round for want of memory keeps its rows waiting for ever.
 */
export const MAX_SEGMENT_BYTES = 64 * 1024 * 1024
/** Events being made durable at once; above it the host is told to push back (HTTP 429). */
const MAX_IN_FLIGHT = 10_000
/** Page contexts (site, enc) whose opt-in token is remembered (pseudonymOf), at most: as many as event keys cached. */
const MAX_CONTEXT_TOKENS = 65_536
/** Accepted events remembered so a replayed envelope is not counted twice (ingest-replay-guard.ts), at most. Memory only. */
const MAX_SEEN = 1_000_000

export class Ingest {
  private readonly opener: EventOpener
  private readonly visitors = new VisitorBook<VisitEntry>()
  private readonly log: IngestLog<EventRow>
  private readonly head: IngestHead
  readonly sites: SiteBook
  private rows: EventRow[] = []
  /** How many of `rows` are not yet in a confirmed segment, and their bytes (rowBytes). */
  private pending = 0
  private pendingBytes = 0
  /** The newest time of a row the realtime cap dropped, or of this start if flushed rows were left behind in the last run's memory (0: none). */
  private droppedThrough = 0
  private inFlight = 0
  private readonly seen = new ReplayGuard(MAX_SEEN)
  private readonly country: CountryDb
  /** Opted-in visitors' pseudonymous ids (ingest-visitor-rights.ts). */
  readonly optIns: OptIns
  /** The opt-in token each page context (site/enc) carried first (pseudonymOf). Memory only. */
  private contextTokens = new Map<string, string>()
  /** Set while the log is rewritten (a deletion, a compaction): new appends wait for it. */
  private rewriting: Promise<void> | undefined
  private nextN = 0
  private prepared = new Map<string, PreparedFlush>()
  /** Events refused because their site is not registered here (memory only). */
  unknownSiteRefusals = 0

  /**
   * `head`: the enclave's sealed head, where the site book and the log's checkpoint are pinned
   * (ingest-state.ts). Every save of the site book pins the log as it stands too.
   */
  /** Flushed rows kept for the realtime figure at most (MAX_REALTIME_ROWS; tests pass fewer). */
  private readonly maxRealtimeRows: number
  /** Bytes of rows held at most, waiting and flushed each (MAX_HELD_BYTES; tests pass fewer). */
  private readonly maxHeldBytes: number
  /** Bytes of rows a segment holds at most (MAX_SEGMENT_BYTES; tests pass fewer). */
  private readonly maxSegmentBytes: number

  constructor(p: { dir: string; sealingKey: Uint8Array; hpkePrivateKey: Uint8Array; head: IngestHead; country?: CountryDb; maxRealtimeRows?: number; maxHeldBytes?: number; maxSegmentBytes?: number }) {
    this.maxRealtimeRows = p.maxRealtimeRows ?? MAX_REALTIME_ROWS
    this.maxHeldBytes = p.maxHeldBytes ?? MAX_HELD_BYTES
    this.maxSegmentBytes = p.maxSegmentBytes ?? MAX_SEGMENT_BYTES
    this.opener = new EventOpener(p.hpkePrivateKey)
    this.head = p.head
    this.log = new IngestLog<EventRow>(p.dir, p.sealingKey)
    const pinned = p.head.read('ingestlog')
    const replayed = this.log.replay(pinned && decodeCheckpoint(pinned), (c) => p.head.save({ ingestlog: encodeCheckpoint(c) }))
    this.sites = new SiteBook({ read: (name) => p.head.read(name), save: (c) => p.head.save({ ...c, ingestlog: encodeCheckpoint(this.log.checkpoint()) }) }, { dir: p.dir, key: p.sealingKey })
    this.country = p.country ?? packagedCountryDb()
    this.optIns = new OptIns(p.sealingKey)
    // Row numbers go on past every row in a confirmed segment, not only past the log's: once a
    // flush compacted the log empty, numbering from 0 again made new rows look already flushed
    // (never segmented, and dropped from the log at the next compaction).
    for (const r of replayed) this.nextN = Math.max(this.nextN, r.n + 1)
    for (const s of this.sites.all()) this.nextN = Math.max(this.nextN, s.flushedThrough + 1)
    // Rows already in a segment were kept for the realtime figure in memory only: once any were,
    // an answer's window before this start is not whole, and says so (coveredFrom).
    if (this.sites.all().some((s) => s.flushedThrough >= 0)) this.droppedThrough = Date.now()
    // Rows already in a confirmed segment (a crash between the manifest update and the compaction) are not appended twice.
    this.rows = replayed.filter((r) => this.isPending(r))
    this.countPending()
  }

  private isPending(r: EventRow): boolean {
    return r.n > (this.sites.get(r.site)?.flushedThrough ?? Infinity)
  }

  /** One relayed event; resolves only once its row is durable (or it was dropped as a bot). */
  async accept(p: { envelope: unknown; ip: unknown; userAgent: unknown; now: number }): Promise<IngestOutcome> {
    if (typeof p.ip !== 'string' || p.ip.length > 64 || typeof p.userAgent !== 'string' || p.userAgent.length > 1024) {
      throw new W3aError('INVALID_ARGUMENT', 'relayed event: ip and userAgent must be short strings')
    }
    if (this.inFlight >= MAX_IN_FLIGHT) throw new W3aError('INGEST_BUSY', 'the ingest worker is writing as fast as it can', { details: ['Retry after a second.'] })
    const { site, pageLoad, seq, event } = this.opener.open(p.envelope, this.admitSite)
    if (this.pending >= MAX_PENDING_ROWS || this.pendingBytes >= this.maxHeldBytes) throw new W3aError('INGEST_BUSY', 'the ingest worker has too many rows waiting for their segment', { details: ['Retry after a few seconds.'] })
    if (isBot(p.userAgent)) return { accepted: false, reason: 'bot' }
    // Labels first: a URL that does not parse is refused here, before the event is remembered as seen.
    const labels = enrich({ url: event.u, referrer: event.r, userAgent: p.userAgent, width: event.w })
    if (!this.seen.firstTime(pageLoad, seq)) return { accepted: false, reason: 'duplicate' }
    const pseudonym = event.i ? await this.pseudonymOf(site, pageLoad, event.i) : null
    const { id: visitor, salt } = pseudonym !== null ? { id: pseudonym, salt: '' } : this.visitors.visitor(site, p.ip, p.userAgent, p.now)
    const pageview = event.n === 'pageview'
    // Rows and visit entries are built field by field, not by spreading the labels: a spread cost
    // more than all of an event's labels once those are remembered (ingest-enrich.ts).
    const session = this.visitors.session(site, visitor, () => ({ entryPage: labels.page, source: labels.source, channel: labels.channel, utmSource: labels.utmSource, utmMedium: labels.utmMedium, utmCampaign: labels.utmCampaign, utmContent: labels.utmContent, utmTerm: labels.utmTerm }), p.now, pageview)
    const entry = session.entry
    const row: EventRow = {
      site,
      country: this.country.lookup(p.ip),
      ts: p.now,
      name: event.n,
      visitor,
      salt,
      session: session.id,
      hostname: labels.hostname,
      page: labels.page,
      source: entry.source,
      channel: entry.channel,
      utmSource: entry.utmSource,
      utmMedium: entry.utmMedium,
      utmCampaign: entry.utmCampaign,
      utmContent: entry.utmContent,
      utmTerm: entry.utmTerm,
      device: labels.device,
      browser: labels.browser,
      os: labels.os,
      entryPage: entry.entryPage,
      props: event.p ? JSON.stringify(event.p) : '',
      revenueAmount: event.$ ? String(event.$.amount) : '',
      revenueCurrency: event.$?.currency ?? '',
      n: this.nextN++,
      sessionStart: session.isNew ? 1 : 0,
      bounce: pageview && session.pageviews === 1 ? 1 : pageview && session.pageviews === 2 ? -1 : 0,
      durationS: Math.min(MAX_DURATION_S, session.gapMs / 1000),
    }
    this.inFlight++
    try {
      while (this.rewriting) await this.rewriting
      await this.log.append([row])
    } finally {
      this.inFlight--
    }
    this.rows.push(row)
    this.pending++
    this.pendingBytes += rowBytes(row)
    return { accepted: true }
  }

  /** Refuses, before any key agreement, an event for a site not registered here (counted). */
  private readonly admitSite = (site: string): void => {
    if (this.sites.get(site)) return
    this.unknownSiteRefusals++
    throw new W3aError('SITE_NOT_REGISTERED', `site ${site} is not registered with this ingest worker`, { details: ['Its owner registers it with `w3a site add DOMAIN`; events for it are not stored until then.'] })
  }

  /** Event keys the opener holds (ingest-open.ts; for tests). */
  get cachedEventKeys(): number {
    return this.opener.cachedKeys
  }

  /**
   * The pseudonym of an event's opt-in token, checked once per page context: a page's events all
   * carry the one token its visitor holds, so another token in the same context is ignored (the
   * event counts as anonymous). Else a client could send, under one HPKE context (AES-GCM only on
   * its side), every event with a new forged signature, and have the enclave check an ECDSA
   * signature for each.
   */
  private pseudonymOf(site: string, pageLoad: string, token: string): Promise<string | null> | null {
    const first = this.contextTokens.get(pageLoad)
    if (first !== undefined && first !== token) return null
    if (first === undefined) {
      this.contextTokens.set(pageLoad, token)
      if (this.contextTokens.size > MAX_CONTEXT_TOKENS) this.contextTokens.delete(this.contextTokens.keys().next().value!)
    }
    return this.optIns.ofToken(site, token)
  }

  /** An owner's signed site registration (ingest-sites.ts): from then on the site's events are accepted. */
  registerSite(raw: unknown, p: Parameters<SiteBook['register']>[1]): Promise<SiteRecord> {
    return this.sites.register(raw, p)
  }

  /** Sites with rows not yet in a confirmed segment, and how many. */
  pendingSites(): { site: Hex; rows: number }[] {
    const counts = new Map<string, number>()
    for (const r of this.rows) if (this.isPending(r)) counts.set(r.site, (counts.get(r.site) ?? 0) + 1)
    return [...counts].map(([site, rows]) => ({ site: site as Hex, rows }))
  }

  /**
   * The next segment of `site`: its waiting rows as Parquet sealed with the site key, stored
   * (`postCar`: to the storage node, which only ever sees ciphertext), and the manifest that
   * appends it, stored too. Until confirmFlush the same prepared flush is returned again (the
   * host retries the manifest update); rows arriving meanwhile go to the next segment.
   */
  async prepareFlush(site: Hex, postCar: (car: Uint8Array, root: string) => Promise<void>): Promise<PreparedFlush | undefined> {
    const waiting = this.prepared.get(site)
    if (waiting) return waiting
    const record = this.sites.get(site)
    if (!record) throw new W3aError('INVALID_ARGUMENT', `site ${site} is not registered here`)
    // Appends wait while a rewrite is out: they would be sealed under the key it replaces.
    if (record.rewrite || record.deletions.length > 0) return undefined
    // The oldest waiting rows, up to the segment's row and byte caps (at least one row).
    const rows: EventRow[] = []
    let bytes = 0
    for (const r of this.rows) {
      if (r.site !== site || !this.isPending(r)) continue
      const size = rowBytes(r)
      if (rows.length >= MAX_SEGMENT_ROWS || (rows.length > 0 && bytes + size > this.maxSegmentBytes)) break
      rows.push(r)
      bytes += size
    }
    if (rows.length === 0) return undefined
    const parquet = await siteRowsToParquet(rows)
    const segment = await sealSiteSegment({ dek: record.dek, site, segmentIndex: record.manifest.segments.length, parquet })
    await postCar(segment.car, segment.cid.toString())
    const manifest = appendSegment(record.manifest, { cid: segment.cid, rows: rows.length, size: segment.size })
    const block = await carOfBlock(encodeManifest(manifest))
    await postCar(block.car, block.cid.toString())
    const flush: PreparedFlush = { site, manifestCid: block.cid.toString(), manifest, through: rows[rows.length - 1]!.n, rows: rows.length }
    this.prepared.set(site, flush)
    return flush
  }

  /** A visitor's deletion, to reach the site's stored segments at the next rewrite (durable when this returns). */
  queueSegmentDeletion(site: string, visitor: string): void {
    if (this.sites.get(site)) this.sites.queueDeletion(site, visitor)
  }

  /** Where a visitor's deletion stands in the stored segments: done (the manifest without their rows), pending, or never asked. */
  segmentDeletion(site: string, visitor: string): Rewritten | 'pending' | undefined {
    const s = this.sites.get(site)
    if (!s) return undefined
    if (s.deletions.includes(visitor)) return 'pending'
    return s.rewritten.findLast((x) => x.visitor === visitor)
  }

  /** Sites whose stored segments a deletion has still to reach (a rewrite to make or to see mined). */
  rewriteSites(): Hex[] {
    return this.sites.all().filter((s) => s.rewrite || s.deletions.length > 0).map((s) => s.site)
  }

  /**
   * The rewrite of `site`'s stored segments without the rows of the visitors whose deletion is
   * queued (ingest-segment-rewrite.ts), under a new site key kept sealed before this returns.
   * Waits (undefined) while a flush of the site is out: its segment may hold their rows. The same
   * rewrite is returned until confirmRewrite; when no stored segment held their rows there is
   * nothing to rotate, the deletions are done at once and this returns undefined.
   */
  async prepareRewrite(site: Hex, io: Pick<RewriteSiteSegmentsParameters, 'fetchCar' | 'postCar'>, now: number): Promise<PreparedRewrite | undefined> {
    const record = this.sites.get(site)
    if (!record) throw new W3aError('INVALID_ARGUMENT', `site ${site} is not registered here`)
    if (record.rewrite) return { ...record.rewrite, site }
    if (record.deletions.length === 0 || this.prepared.has(site)) return undefined
    const visitors = [...record.deletions]
    const dek = generateDatasetKey()
    const out = await rewriteSiteSegments({ site, manifest: record.manifest, oldDek: record.dek, newDek: dek, visitors, ...io })
    if (Object.values(out.removed).every((n) => n === 0)) {
      dek.fill(0)
      this.sites.finishRewrite(site, { visitors, at: Math.floor(now / 1000) })
      return undefined
    }
    const rewrite: PendingRewrite = { visitors, dek, manifestCid: out.manifestCid, manifest: out.manifest, removed: out.removed, unpin: [record.manifestCid, ...out.replaced.map(String)] }
    this.sites.setRewrite(site, rewrite)
    return { ...rewrite, site }
  }

  /** The host reports the rewrite's RotateKey and manifest update mined: the new key and manifest are the site's. */
  confirmRewrite(site: Hex, manifestCid: string, now: number): void {
    const rewrite = this.sites.get(site)?.rewrite
    if (!rewrite || rewrite.manifestCid !== manifestCid) throw new W3aError('INVALID_ARGUMENT', `no prepared rewrite of ${site} with manifest ${manifestCid}`)
    this.sites.finishRewrite(site, { visitors: rewrite.visitors, at: Math.floor(now / 1000), rewrite })
  }

  /**
   * The prepared flush of `site` was prepared again or abandoned: forget it (its rows wait for the
   * next). Its segment and manifest, already stored, go on the site's list to unpin: no manifest
   * the enclave keeps links them, so no rewrite would ever reach them, and a visitor deleted
   * meanwhile would stay in that segment (under the key the owner can derive). If the host lied
   * and the update was mined, storage keeps them (it keeps what a current manifest links).
   */
  dropPrepared(site: Hex): void {
    const flush = this.prepared.get(site)
    if (!flush) return
    this.prepared.delete(site)
    this.sites.addUnpin(site, [flush.manifest.segments.at(-1)!.cid.toString(), flush.manifestCid])
  }

  /**
   * The host reports the manifest update of `site` mined: the segment's rows leave the log
   * (compacted to the rows still waiting) and, past the realtime window, memory.
   */
  async confirmFlush(site: Hex, manifestCid: string, now: number): Promise<{ through: number }> {
    const flush = this.prepared.get(site)
    if (!flush || flush.manifestCid !== manifestCid) throw new W3aError('INVALID_ARGUMENT', `no prepared flush of ${site} with manifest ${manifestCid}`)
    this.prepared.delete(site)
    this.sites.confirm(site, { manifestCid, manifest: flush.manifest, through: flush.through })
    await this.exclusively(() => this.log.compact(this.rows.filter((r) => this.isPending(r)), this.pin))
    this.keepRows(now)
    return { through: flush.through }
  }

  /** Keeps in memory the rows still waiting for their segment, and the newest flushed ones of the realtime window. */
  private keepRows(now: number): void {
    const since = now - REALTIME_WINDOW_MS
    let recent = 0
    let recentBytes = 0
    for (const r of this.rows) {
      if (!this.isPending(r) && r.ts >= since) (recent++, (recentBytes += rowBytes(r)))
    }
    // Rows are in arrival order: the first flushed ones of the window are the oldest, dropped until both caps hold.
    this.rows = this.rows.filter((r) => {
      if (this.isPending(r)) return true
      if (r.ts < since) return false
      if (recent <= this.maxRealtimeRows && recentBytes <= this.maxHeldBytes) return true
      recent--
      recentBytes -= rowBytes(r)
      this.droppedThrough = Math.max(this.droppedThrough, r.ts)
      return false
    })
    this.countPending()
  }

  /** Counts the rows still waiting for their segment, and their bytes. */
  private countPending(): void {
    this.pending = 0
    this.pendingBytes = 0
    for (const r of this.rows) if (this.isPending(r)) (this.pending++, (this.pendingBytes += rowBytes(r)))
  }

  /** Where a realtime answer from `since` on really starts: later once the cap dropped rows (keepRows). */
  coveredFrom(since: number): number {
    return Math.max(since, this.droppedThrough + 1)
  }

  /** Acknowledged rows of `site` from `since` (ms) on: for the stats answer, inside the enclave only. */
  rowsOf(site: string, since: number): EventRow[] {
    return this.rows.filter((r) => r.site === site && r.ts >= since)
  }

  /**
   * A visitor's deletion (ingest-visitor-rights.ts): their open visit is closed first (else their
   * next event would carry the deleted visit's entry page, source and UTM fields), then their rows
   * leave memory and the log (removeRows), then the rewrite of the stored segments is queued.
   * Returns how many rows this worker held (removeRows).
   */
  async deleteVisitor(site: string, visitor: string): Promise<number> {
    this.visitors.forget(site, visitor)
    const rows = await this.removeRows((r) => r.site === site && r.visitor === visitor)
    this.queueSegmentDeletion(site, visitor)
    return rows
  }

  /**
   * Removes every acknowledged row `drop` matches, from memory and from the sealed log (a
   * visitor's deletion, ingest-visitor-rights.ts). Appends wait meanwhile; returns how many rows
   * this worker held that matched: those waiting for their segment (in memory and in the log) and
   * those of the realtime window already in a segment (in memory; the segment rewrite removes them
   * there). Counting the log alone said 0 once a flush had taken the rows, minutes after the events.
   */
  async removeRows(drop: (row: EventRow) => boolean): Promise<number> {
    return this.exclusively(async () => {
      const before = this.rows.length
      this.rows = this.rows.filter((r) => !drop(r))
      this.countPending()
      const fromLog = await this.log.rewrite((r) => !drop(r), this.pin)
      return Math.max(before - this.rows.length, fromLog)
    })
  }

  /** Pins a rewritten log's new generation in the sealed head (a new version the peers witness). */
  private readonly pin = (c: LogCheckpoint): void => this.head.save({ ingestlog: encodeCheckpoint(c) })

  /** Runs `fn` (a rewrite of the log) with appends held back until it is done. */
  private async exclusively<T>(fn: () => Promise<T>): Promise<T> {
    while (this.rewriting) await this.rewriting
    let done!: () => void
    this.rewriting = new Promise((r) => (done = r))
    try {
      await this.log.append([]) // waits out a frame being written (an empty one if none)
      return await fn()
    } finally {
      this.rewriting = undefined
      done()
    }
  }


  close(): void {
    this.log.close()
  }
}
