/**
 * The ingest enclave's memory of accepted events, so that an envelope relayed again (by the host,
 * the gateway or anyone who saw it) is not counted twice. Keyed by page load (site and HPKE enc:
 * one context per page load, event-format.ts) with the page's sequence numbers under it: one key
 * string per page instead of one per event. Bounded by events; past the bound the oldest page
 * loads are forgotten first. Memory only (a restart forgets, as the daily salt does).
 */

/** Sequence numbers below this are kept as bits of one number; a page rarely sends more. */
const BITS = 31

function popcount(x: number): number {
  let n = 0
  for (; x; x &= x - 1) n++
  return n
}

export class ReplayGuard {
  /** By page: a bit mask of seq < 31, and a set of the larger ones when there are any. */
  private pages = new Map<string, { bits: number; more?: Set<number> }>()
  private events = 0

  constructor(private readonly maxEvents: number) {}

  /** True the first time `seq` of page load `page` is offered (and remembers it); false for a replay. */
  firstTime(page: string, seq: number): boolean {
    let p = this.pages.get(page)
    if (!p) this.pages.set(page, (p = { bits: 0 }))
    if (seq < BITS) {
      const bit = 1 << seq
      if (p.bits & bit) return false
      p.bits |= bit
    } else {
      p.more ??= new Set()
      if (p.more.has(seq)) return false
      p.more.add(seq)
    }
    if (++this.events > this.maxEvents) this.forgetOldest()
    return true
  }

  /** Events remembered. */
  get size(): number {
    return this.events
  }

  private forgetOldest(): void {
    for (const [page, p] of this.pages) {
      if (this.events <= this.maxEvents) return
      this.pages.delete(page)
      this.events -= popcount(p.bits) + (p.more?.size ?? 0)
    }
  }
}
