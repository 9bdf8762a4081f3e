/**
 * The storage audit's memory across restarts: per era, the claim it was begun for and the report
 * signed for it, and the set the last signed report held (added/dropped are counted from it).
 * Without it a host that restarts its enclave could begin an era again for another claim (its
 * walks would be the same, storage-walk.ts, but the orders it reports would not) and have a
 * second, different report signed for the era (storage-audit.ts).
 *
 * Invariants:
 * - The ledger is written (sealed, storage-audit-ledger file of the enclave) before the enclave
 *   answers: an era's claim before its sample leaves, its report before its signature leaves.
 * - Eras older than the report window (the current and the previous era, StorageMarket) plus a
 *   margin are forgotten; a claim for such an era is refused instead of begun (the chain would
 *   refuse its report anyway).
 *
 *   sealed bytes = UTF-8 JSON { v: 1, eras: [{ era, claimHash, report?, signature? }], held: [cid] }
 *   bigints as decimal strings (label "w3a/enclave/storage-audit/v1", service.ts)
 */
import type { Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import type { WorkReport } from '../chain/storage-digests.js'

/** Eras kept behind the newest one begun: the chain takes reports for the current and the previous era. */
export const LEDGER_ERAS_KEPT = 4n

export type SignedReport = { report: WorkReport; signature: Hex }
export type LedgerEra = { claimHash: Hex; signed?: SignedReport }

/** Where the ledger's bytes live (the enclave's sealed file; memory in unit tests). */
export type LedgerStore = { read(): Uint8Array | undefined; write(bytes: Uint8Array): void }

type EncodedReport = Omit<WorkReport, 'era' | 'bytesHeld' | 'orderIds'> & { era: string; bytesHeld: string; orderIds: string[] }
type Encoded = { v: 1; eras: { era: string; claimHash: Hex; report?: EncodedReport; signature?: Hex }[]; held: string[] }

export class AuditLedger {
  private readonly eras = new Map<bigint, LedgerEra>()
  private held: string[] = []

  constructor(private readonly store: LedgerStore) {
    const bytes = store.read()
    if (!bytes) return
    const e = JSON.parse(new TextDecoder().decode(bytes)) as Encoded
    if (e.v !== 1) throw new W3aError('INPUT_MALFORMED', `unknown storage audit ledger version ${String(e.v)}`)
    for (const x of e.eras) {
      const signed = x.report && x.signature ? { report: decodeReport(x.report), signature: x.signature } : undefined
      this.eras.set(BigInt(x.era), { claimHash: x.claimHash, ...(signed ? { signed } : {}) })
    }
    this.held = e.held
  }

  /** A new enclave's empty ledger: from then on a missing ledger file is a host's doing (service.ts). */
  static create(store: LedgerStore): void {
    new AuditLedger({ read: () => undefined, write: (b) => store.write(b) }).save()
  }

  era(era: bigint): LedgerEra | undefined {
    return this.eras.get(era)
  }

  /** The newest era begun (none: -1). */
  newest(): bigint {
    let top = -1n
    for (const e of this.eras.keys()) if (e > top) top = e
    return top
  }

  /** What the last signed report held. */
  lastHeld(): ReadonlySet<string> {
    return new Set(this.held)
  }

  /** Records the era's claim; durable when it returns. */
  begin(era: bigint, claimHash: Hex): void {
    this.eras.set(era, { claimHash })
    this.forgetBefore(era)
    this.save()
  }

  /** Records the era's signed report and what it held; durable when it returns. */
  sign(era: bigint, signed: SignedReport, held: Iterable<string>): void {
    const entry = this.eras.get(era)
    if (!entry) throw new W3aError('INTERNAL', `storage audit ledger: era ${era} signed without being begun`)
    this.eras.set(era, { ...entry, signed })
    this.held = [...held].sort()
    this.save()
  }

  private forgetBefore(era: bigint): void {
    for (const e of this.eras.keys()) if (e + LEDGER_ERAS_KEPT < era) this.eras.delete(e)
  }

  private save(): void {
    const e: Encoded = {
      v: 1,
      eras: [...this.eras].map(([era, x]) => ({ era: era.toString(), claimHash: x.claimHash, ...(x.signed ? { report: encodeReport(x.signed.report), signature: x.signed.signature } : {}) })),
      held: this.held,
    }
    this.store.write(new TextEncoder().encode(JSON.stringify(e)))
  }
}

/** A ledger store in memory (unit tests: hand the same store to a "restarted" audit). */
export function memoryLedgerStore(): LedgerStore & { bytes: Uint8Array | undefined } {
  const s = {
    bytes: undefined as Uint8Array | undefined,
    read: () => s.bytes,
    write: (b: Uint8Array) => void (s.bytes = b),
  }
  return s
}

function encodeReport(r: WorkReport): EncodedReport {
  return { ...r, era: r.era.toString(), bytesHeld: r.bytesHeld.toString(), orderIds: r.orderIds.map(String) }
}

function decodeReport(r: EncodedReport): WorkReport {
  return { ...r, era: BigInt(r.era), bytesHeld: BigInt(r.bytesHeld), orderIds: r.orderIds.map(BigInt) }
}
