/**
 * Rollback protection of a keeper enclave's sealed state (issue 8, attack 4; custody-protocol.md,
 * "Rollback protection"). A TEE here has no monotonic counter, so freshness comes from the other
 * keepers, each with its own host (ROTE-style witnessing):
 *
 * - Every save of the enclave's state gets the next `seq` and a root over its files (sealed-head.ts).
 *   The keeper signs (seq, root); peers witness it and acknowledge (witness-report.ts). The state is
 *   **committed** once `peersToCommit(n)` distinct peers acknowledged it: with the keeper itself, a
 *   strict majority of the n keepers it knows. Key releases need a committed state.
 * - After a restart on existing sealed state the enclave is **unverified**: it answers nothing that
 *   depends on its state being current until `peersToResume(n)` distinct peers report, under a fresh
 *   challenge, the highest (seq, root) they witnessed of it. If one reports a higher seq, or the
 *   same seq with another root, the state is **rolled back**: the enclave erases what it loaded
 *   and stays locked until a hand-over from a current keeper replaces it.
 *
 * Quorums: every resume quorum shares a peer with every commit quorum (W + R = n > n − 1 peers),
 * so an honest peer that witnessed the last committed state is always asked. With one keeper
 * (W = R = 0) nothing outside the host witnesses anything: a lone keeper cannot detect a rollback.
 *
 * Invariants: the keeper set grows from keepers whose quotes this enclave verified itself
 * (hand-over, both sides) and members of the custody keeper set, and shrinks only by a removal
 * the custody state applied (keeper-removal.ts); reports count only from keepers in it, other than the enclave itself,
 * each once; the invariants of the quorum math hold only over the same keeper set.
 */
import { bytesToHex, type Address, type Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import { verifyReport, ZERO_NONCE, type FreshnessDomain, type WitnessReport } from './witness-report.js'

export type FreshnessStatus = 'fresh' | 'unverified' | 'rolled-back'
/** A state as it stands: its seq and root (sealed-head.ts). */
export type StateVersion = { seq: bigint; root: Hex }

/** Peers that must acknowledge a state to commit it: with the keeper itself, a strict majority of n. */
export function peersToCommit(n: number): number {
  return Math.floor(n / 2)
}

/** Peers that must report at a resume: enough to meet the peers of every commit quorum. None for a lone keeper. */
export function peersToResume(n: number): number {
  return n <= 1 ? 0 : n - peersToCommit(n)
}

type Encoded = { v: 1; keepers: string[]; jobFloor: string | null }

/** What resume learned: who counted, what was skipped and why, the highest seq any peer reported. */
export type ResumeOutcome = { status: FreshnessStatus; counted: Address[]; needed: number; skipped: string[]; highestSeq: bigint }

export class KeeperFreshness {
  private readonly keepers = new Set<string>()
  /** After a recovery from a rollback: jobs up to this id are neither run nor released here (custody-protocol.md). */
  jobFloor: bigint | undefined
  status: FreshnessStatus
  /** Peers that acknowledged the current state. */
  private readonly acks = new Set<string>()
  private challenge: Hex | undefined
  /** The highest seq of this keeper any verified peer reported: a recovered state starts above it. */
  highestSeq = 0n

  constructor(
    private readonly self: Address,
    private readonly domain: FreshnessDomain,
    status: FreshnessStatus,
  ) {
    this.status = status
    this.keepers.add(self.toLowerCase())
  }

  import(bytes: Uint8Array): void {
    const e = JSON.parse(new TextDecoder().decode(bytes)) as Encoded
    if (e.v !== 1) throw new W3aError('INPUT_MALFORMED', `unknown keeper-set record version ${String(e.v)}`)
    for (const k of e.keepers) this.keepers.add(k.toLowerCase())
    this.jobFloor = e.jobFloor === null ? undefined : BigInt(e.jobFloor)
  }

  export(): Uint8Array {
    const e: Encoded = { v: 1, keepers: [...this.keepers].sort(), jobFloor: this.jobFloor?.toString() ?? null }
    return new TextEncoder().encode(JSON.stringify(e))
  }

  /**
   * The keepers this enclave counts, itself included: those whose quotes it verified in a
   * hand-over, and every member of the custody keeper set (admitted by a majority: keeper-set.ts).
   * It grows, and shrinks only by a removal entry the custody state applied (keeper-removal.ts).
   */
  knownKeepers(): Address[] {
    return [...this.keepers].sort() as Address[]
  }

  /** A keeper whose quote this enclave verified itself; true if new (the set is then to be saved). */
  addKeeper(keeper: Address): boolean {
    const k = keeper.toLowerCase()
    if (this.keepers.has(k)) return false
    this.keepers.add(k)
    return true
  }

  /** A keeper removed from the custody keeper set (keeper-removal.ts): its witness and acknowledgements stop counting. True if it was known. */
  removeKeeper(keeper: Address): boolean {
    const k = keeper.toLowerCase()
    if (k === this.self.toLowerCase() || !this.keepers.delete(k)) return false
    this.acks.delete(k)
    return true
  }

  /** A new state was saved: earlier acknowledgements are for another state. */
  saved(): void {
    this.acks.clear()
  }

  committed(): boolean {
    return this.acks.size >= peersToCommit(this.keepers.size)
  }

  /** Counts peers' acknowledgements of `current`; others (older, forged, unknown witness) are skipped. */
  async acknowledge(reports: unknown, current: StateVersion): Promise<{ committed: boolean; acks: number; needed: number; skipped: string[] }> {
    const { valid, skipped } = await this.verifyAll(reports, (r) => r.nonce === ZERO_NONCE && r.seq === current.seq && r.root === current.root, 'not an acknowledgement of the current state')
    for (const r of valid) this.acks.add(r.witness)
    return { committed: this.committed(), acks: this.acks.size, needed: peersToCommit(this.keepers.size), skipped }
  }

  /** A fresh challenge for the peers' reports at resume (one at a time: a new one voids the last). */
  newChallenge(): Hex {
    this.challenge = bytesToHex(crypto.getRandomValues(new Uint8Array(32)))
    return this.challenge
  }

  /**
   * Judges the peers' reports of this keeper's state against `current`. Throws STATE_ROLLED_BACK if
   * a verified peer witnessed a later state (the status stays rolled back), STATE_NOT_FRESH if too
   * few peers reported; otherwise the enclave is fresh, and peers that saw `current` have acknowledged it.
   */
  async resume(reports: unknown, current: StateVersion): Promise<ResumeOutcome> {
    if (this.status === 'rolled-back') throw this.rolledBack()
    const challenge = this.challenge
    const { valid, skipped } = await this.verifyAll(reports, (r) => challenge !== undefined && r.nonce === challenge, 'not an answer to the current challenge')
    const needed = peersToResume(this.keepers.size)
    const counted = valid.map((r) => r.witness)
    const ahead = valid.filter((r) => r.seq > current.seq || (r.seq === current.seq && r.root !== current.root))
    for (const r of valid) if (r.seq > this.highestSeq) this.highestSeq = r.seq
    const outcome = (status: FreshnessStatus): ResumeOutcome => ({ status, counted, needed, skipped, highestSeq: this.highestSeq })
    if (ahead.length > 0) {
      this.status = 'rolled-back'
      this.challenge = undefined
      throw this.rolledBack(ahead.map((r) => `keeper ${r.witness} witnessed seq ${r.seq} (root ${r.root.slice(0, 10)}…); this state is seq ${current.seq} (root ${current.root.slice(0, 10)}…)`))
    }
    if (this.status === 'fresh') return outcome('fresh')
    if (counted.length < needed) {
      throw new W3aError('STATE_NOT_FRESH', `enclave state not verified fresh: ${counted.length} of the ${needed} peer reports needed`, { details: [...skipped, `known keepers: ${this.knownKeepers().join(', ')}`] })
    }
    this.status = 'fresh'
    this.challenge = undefined
    for (const r of valid) if (r.seq === current.seq) this.acks.add(r.witness)
    return outcome('fresh')
  }

  /** Throws unless the state is verified fresh; `what` names the refused action. */
  requireFresh(what: string): void {
    if (this.status === 'rolled-back') throw this.rolledBack([`refused: ${what}`])
    if (this.status !== 'fresh') {
      throw new W3aError('STATE_NOT_FRESH', `enclave state not verified fresh since its restart: ${what} refused`, { details: ['Its host must bring freshness reports from its peer keepers (resume).'] })
    }
  }

  requireCommitted(what: string): void {
    this.requireFresh(what)
    if (!this.committed()) {
      throw new W3aError('STATE_NOT_COMMITTED', `enclave state not yet witnessed by a majority of keepers: ${what} refused`, {
        details: [`${this.acks.size} of ${peersToCommit(this.keepers.size)} peer acknowledgements`, 'Its host must relay its witness statement to the peer keepers.'],
      })
    }
  }

  private rolledBack(details: string[] = []): W3aError {
    return new W3aError('STATE_ROLLED_BACK', 'enclave sealed state is older than what it committed (rolled back)', {
      details: [...details, 'Recover by a hand-over from a current keeper.'],
    })
  }

  /** Verified reports about this keeper from distinct known peers that pass `keep`; everything else is skipped with why. */
  private async verifyAll(json: unknown, keep: (r: WitnessReport) => boolean, why: string): Promise<{ valid: WitnessReport[]; skipped: string[] }> {
    if (!Array.isArray(json)) throw new W3aError('INVALID_ARGUMENT', 'reports must be a list')
    const valid: WitnessReport[] = []
    const skipped: string[] = []
    const seen = new Set<string>()
    for (const item of json) {
      let r: WitnessReport
      try {
        r = await verifyReport(this.domain, item)
      } catch (e) {
        skipped.push(`a report refused: ${(e as W3aError).shortMessage ?? String(e)}`)
        continue
      }
      const reason =
        r.keeper !== this.self.toLowerCase() ? 'about another keeper'
        : r.witness === this.self.toLowerCase() ? 'from this keeper itself'
        : !this.keepers.has(r.witness) ? 'from a keeper this enclave does not know'
        : seen.has(r.witness) ? 'a second report from the same keeper'
        : !keep(r) ? why
        : undefined
      if (reason) {
        skipped.push(`report of ${r.witness}: ${reason}`)
        continue
      }
      seen.add(r.witness)
      valid.push(r)
    }
    return { valid, skipped }
  }
}
