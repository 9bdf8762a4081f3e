/**
 * The ingest role of a worker enclave (issue 12, DESIGN §3 part 7): sealed web-analytics events
 * in, acknowledged rows in the sealed write-ahead log out, and k-thresholded aggregates to the
 * site's owner. Per event: open (ingest-open.ts) → drop bots → visitor id from the day's salt
 * and session (ingest-visitors.ts) → labels (ingest-enrich.ts) → one row, durable before the ack.
 * The IP and user agent the host relays are used for the visitor id and the labels, then dropped.
 *
 * The host is a courier: it relays envelopes (it cannot open them) with the request's IP and
 * user agent (its word: a lying host can only skew visitor counting), and it cannot make the
 * enclave answer stats except to a request the site's owner signed (ingest-stats.ts).
 */
import { W3aError } from '../core/errors.js'
import { packagedCountryDb, type CountryDb } from './ingest-country.js'
import { enrich, isBot, type Enriched } from './ingest-enrich.js'
import { IngestLog } from './ingest-log.js'
import { EventOpener } from './ingest-open.js'
import { VisitorBook } from './ingest-visitors.js'
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
    session: string
    /** custom props as JSON text ('' when none) */
    props: string
    revenueAmount: string
    revenueCurrency: string
  }

export type IngestOutcome = { accepted: boolean; reason?: 'bot' | 'duplicate' }

/** Acknowledged rows kept in memory for stats at most (older ones are in the sealed log). */
const MAX_ROWS_IN_MEMORY = 2_000_000
/** Events being made durable at once; above it the host is told to push back (HTTP 429). */
const MAX_IN_FLIGHT = 10_000
/** (site, enc, seq) of events already accepted, kept so a replayed envelope is not counted twice. Memory only. */
const MAX_SEEN = 1_000_000

export class Ingest {
  private readonly opener: EventOpener
  private readonly visitors = new VisitorBook<VisitEntry>()
  private readonly log: IngestLog<EventRow>
  private rows: EventRow[] = []
  private inFlight = 0
  private seen = new Set<string>()
  private readonly country: CountryDb
  /** Opted-in visitors' pseudonymous ids (ingest-visitor-rights.ts). */
  readonly optIns: OptIns
  /** Set while rows are being removed: new appends wait for it. */
  private rewriting: Promise<void> | undefined

  constructor(p: { dir: string; sealingKey: Uint8Array; hpkePrivateKey: Uint8Array; country?: CountryDb }) {
    this.opener = new EventOpener(p.hpkePrivateKey)
    this.log = new IngestLog<EventRow>(p.dir, p.sealingKey)
    this.rows = this.log.replay()
    this.country = p.country ?? packagedCountryDb()
    this.optIns = new OptIns(p.sealingKey)
  }

  /** One relayed event; resolves only once its row is durable (or it was dropped as a bot). */
  async accept(p: { envelope: unknown; ip: unknown; userAgent: unknown; now: number }): Promise<IngestOutcome> {
    if (typeof p.ip !== 'string' || p.ip.length > 64 || typeof p.userAgent !== 'string' || p.userAgent.length > 1024) {
      throw new W3aError('INVALID_ARGUMENT', 'relayed event: ip and userAgent must be short strings')
    }
    if (this.inFlight >= MAX_IN_FLIGHT) throw new W3aError('INGEST_BUSY', 'the ingest worker is writing as fast as it can', { details: ['Retry after a second.'] })
    const { site, enc, seq, event } = await this.opener.open(p.envelope)
    if (isBot(p.userAgent)) return { accepted: false, reason: 'bot' }
    const id = `${site}/${enc}/${seq}`
    if (this.seen.has(id)) return { accepted: false, reason: 'duplicate' }
    this.seen.add(id)
    if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.values().next().value!)
    const labels = enrich({ url: event.u, referrer: event.r, userAgent: p.userAgent, width: event.w })
    const visitor = (event.i ? await this.optIns.ofToken(site, event.i) : null) ?? this.visitors.visitor(site, p.ip, p.userAgent, p.now)
    const { source, channel, utmSource, utmMedium, utmCampaign, utmContent, utmTerm } = labels
    const session = this.visitors.session(site, visitor, { entryPage: labels.page, source, channel, utmSource, utmMedium, utmCampaign, utmContent, utmTerm }, p.now)
    const row: EventRow = {
      site,
      country: this.country.lookup(p.ip),
      ts: p.now,
      name: event.n,
      visitor,
      session: session.id,
      ...labels,
      ...session.entry,
      props: event.p ? JSON.stringify(event.p) : '',
      revenueAmount: event.$ ? String(event.$.amount) : '',
      revenueCurrency: event.$?.currency ?? '',
    }
    this.inFlight++
    try {
      while (this.rewriting) await this.rewriting
      await this.log.append([row])
    } finally {
      this.inFlight--
    }
    this.rows.push(row)
    if (this.rows.length > MAX_ROWS_IN_MEMORY) this.rows.splice(0, this.rows.length - MAX_ROWS_IN_MEMORY)
    return { accepted: true }
  }

  /** Acknowledged rows of `site` from `since` (ms) on: for the stats answer, inside the enclave only. */
  rowsOf(site: string, since: number): EventRow[] {
    return this.rows.filter((r) => r.site === site && r.ts >= since)
  }

  /**
   * Removes every acknowledged row `drop` matches, from memory and from the sealed log (a
   * visitor's deletion, ingest-visitor-rights.ts). Appends wait meanwhile; returns how many
   * rows the log held that matched.
   */
  async removeRows(drop: (row: EventRow) => boolean): Promise<number> {
    while (this.rewriting) await this.rewriting
    let done!: () => void
    this.rewriting = new Promise((r) => (done = r))
    try {
      await this.log.append([]) // waits out a frame being written (an empty one if none)
      this.rows = this.rows.filter((r) => !drop(r))
      return await this.log.rewrite((r) => !drop(r))
    } finally {
      this.rewriting = undefined
      done()
    }
  }

  close(): void {
    this.log.close()
  }
}
