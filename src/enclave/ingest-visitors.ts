/**
 * Visitor ids and sessions, inside the ingest enclave's memory only.
 *   visitor = HMAC-SHA256(salt of the UTC day, site ‖ 0 ‖ ip ‖ 0 ‖ user agent)[0..16)
 * The day's salt is random, made here, never sealed or sent anywhere, and erased once the day
 * is over: nobody (not even this enclave after the day) can link a visitor across days or
 * recompute an id from an IP. A restart makes a new salt (visitors seen before it count again).
 * A session is the visitor's run of events with no gap over 30 minutes (Plausible's rule).
 */
import { createHmac, randomBytes, randomFillSync } from 'node:crypto'

export const SESSION_GAP_MS = 30 * 60 * 1000
const DAY_MS = 24 * 60 * 60 * 1000
/** Open sessions kept at most (oldest dropped first: it just starts a new session). */
const MAX_SESSIONS = 200_000
/**
 * Visitor ids remembered under the current salt, at most (oldest dropped first: it is computed
 * again). A page's events share their visitor, so most events find their id here instead of
 * paying an HMAC; inputs longer than MAX_ID_INPUT (a made-up user agent) are not kept, so the
 * map stays under ~40 MB whatever the host relays (~20 MB of one-byte header strings).
 */
const MAX_IDS = 50_000
const MAX_ID_INPUT = 300

/** Random bytes for session ids, drawn a block at a time (one call per id cost more than the rest of a session's start). */
const pool = Buffer.alloc(4096)
let poolAt = pool.length
function sessionId(): string {
  if (poolAt + 8 > pool.length) (randomFillSync(pool), (poolAt = 0))
  const id = pool.toString('hex', poolAt, poolAt + 8)
  pool.fill(0, poolAt, poolAt + 8) // an id handed out is not left in the pool
  poolAt += 8
  return id
}

type Session<Entry> = { id: string; last: number; entry: Entry; pageviews: number }

export class VisitorBook<Entry> {
  /** `id`: random, names this salt (not derived from it), so rows can say which salt made their visitor id. */
  private salt: { day: number; key: Buffer; id: string } | undefined
  private sessions = new Map<string, Session<Entry>>()
  /** Visitor ids by HMAC input (site, IP, user agent), under the current salt only: cleared when it changes. Memory only. */
  private ids = new Map<string, string>()

  /**
   * The visitor id for an event at `now` (ms), and the id of the salt that made it: the same
   * person has another visitor id under each salt (each day, and each start of the enclave, which
   * its host decides), so the k rule counts visitors within one salt (ingest-stats.ts).
   */
  visitor(site: string, ip: string, userAgent: string, now: number): { id: string; salt: string } {
    const day = Math.floor(now / DAY_MS)
    if (this.salt?.day !== day) {
      this.salt?.key.fill(0)
      this.salt = { day, key: randomBytes(32), id: randomBytes(8).toString('hex') }
      this.sessions.clear() // ids of another day never match again
      this.ids.clear() // nor are they made again
    }
    const input = `${site}\0${ip}\0${userAgent}`
    let id = this.ids.get(input)
    if (id === undefined) {
      id = createHmac('sha256', this.salt.key).update(input).digest('hex').slice(0, 32)
      if (input.length <= MAX_ID_INPUT) {
        this.ids.set(input, id)
        if (this.ids.size > MAX_IDS) this.ids.delete(this.ids.keys().next().value!)
      }
    }
    return { id, salt: this.salt.id }
  }

  /**
   * The session an event of `visitor` at `now` belongs to (30-minute rule), made if none is open.
   * `entry` makes what a visit is attributed to (entry page, source, UTM), called only for the
   * session's first event (later events carry the one kept), so that no event builds it for nothing.
   * `gapMs` is the time since the session's previous event (0 for a new one); `pageview` counts
   * this event as a page view, and `pageviews` is the session's count including it.
   */
  session(site: string, visitor: string, entry: () => Entry, now: number, pageview = false): { id: string; entry: Entry; isNew: boolean; gapMs: number; pageviews: number } {
    const key = `${site}/${visitor}`
    const open = this.sessions.get(key)
    if (open && now - open.last <= SESSION_GAP_MS) {
      const gapMs = Math.max(0, now - open.last)
      open.last = Math.max(open.last, now)
      if (pageview) open.pageviews++
      return { id: open.id, entry: open.entry, isNew: false, gapMs, pageviews: open.pageviews }
    }
    const s: Session<Entry> = { id: sessionId(), last: now, entry: entry(), pageviews: pageview ? 1 : 0 }
    this.sessions.delete(key)
    this.sessions.set(key, s)
    if (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!)
    return { id: s.id, entry: s.entry, isNew: true, gapMs: 0, pageviews: s.pageviews }
  }

  /** Closes the visitor's open visit (their deletion): their next event starts a new one, carrying nothing of it. */
  forget(site: string, visitor: string): void {
    this.sessions.delete(`${site}/${visitor}`)
  }
}
