/**
 * A keeper enclave as a witness of its peers' sealed state (rollback protection, freshness.ts):
 * per peer keeper, the highest (seq, root) it has seen signed by that peer. It only moves
 * forward: a statement for a lower seq, or for the same seq with another root (a fork: the
 * peer's host ran it twice from one copy), is refused, and that refusal is the peer's host's
 * problem, never this keeper's.
 *
 * The book is sealed by itself (`witnessed.sealed`), outside the keeper's own versioned state
 * (sealed-head.ts): a witness that had to have its own state witnessed before it answered
 * would make every acknowledgement a new state to acknowledge. So a witness's host can roll its
 * book back; that keeper is then a faulty witness, which the quorums tolerate as long as one
 * honest witness is in every resume quorum (custody-protocol.md, "Rollback protection").
 */
import type { Address, Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import { ZERO_HASH } from '../custody/index.js'

type Seen = { seq: bigint; root: Hex }
type Encoded = { v: 1; seen: [keeper: string, seq: string, root: string][] }

export class WitnessBook {
  private readonly seen = new Map<string, Seen>()

  static import(bytes: Uint8Array): WitnessBook {
    const e = JSON.parse(new TextDecoder().decode(bytes)) as Encoded
    if (e.v !== 1) throw new W3aError('INPUT_MALFORMED', `unknown witness book version ${String(e.v)}`)
    const book = new WitnessBook()
    for (const [keeper, seq, root] of e.seen) book.seen.set(keeper, { seq: BigInt(seq), root: root as Hex })
    return book
  }

  export(): Uint8Array {
    const e: Encoded = { v: 1, seen: [...this.seen].map(([k, s]) => [k, s.seq.toString(), s.root]) }
    return new TextEncoder().encode(JSON.stringify(e))
  }

  /** The highest state seen of `keeper`; seq 0 with a zero root if none. */
  highest(keeper: Address): Seen {
    return this.seen.get(keeper.toLowerCase()) ?? { seq: 0n, root: ZERO_HASH }
  }

  /** Records a verified statement; true if the book changed (to persist), false for a repeat. */
  record(keeper: Address, seq: bigint, root: Hex): boolean {
    const had = this.highest(keeper)
    if (seq === had.seq && root === had.root) return false
    if (seq <= had.seq) {
      throw new W3aError('STATE_ROLLED_BACK', `keeper ${keeper} states seq ${seq}, but this keeper witnessed its seq ${had.seq}${seq === had.seq ? ' with another root (a fork)' : ''}`, {
        details: ['Its sealed state is older than what it committed: it must recover by a hand-over from a current keeper.'],
      })
    }
    this.seen.set(keeper.toLowerCase(), { seq, root })
    return true
  }
}
