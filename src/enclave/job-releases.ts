/**
 * The keeper enclave's record of whom it released each job's key to. The Jobs contract fixes a
 * job's worker at submission and reassigns it at most once, on a timeout (contracts/Jobs.sol
 * `timeout`), so a job has at most MAX_JOB_WORKERS workers in its whole life. The job view and
 * the worker facts come from the keeper's host, which may lie; this record is what the enclave
 * knows by itself: once it has released a job to that many workers it refuses every other one,
 * whatever the host says the chain says. A release again to a worker already on the record is
 * allowed (its host may have lost the answer); that worker's own enclave runs a job once
 * (job-outcomes.ts).
 *
 * Residual (docs/design/trust-boundary.md): the record is part of the versioned sealed state, so an
 * older copy is refused once peer keepers witnessed the newer one (freshness.ts; not for a lone
 * keeper); each keeper keeps its own, so a host turned away by one keeper can
 * ask another; and the first release (to a worker of the host's choosing, if it lies about the
 * assignment) still rests on the host's word.
 */
import type { Address } from 'viem'
import { W3aError } from '../core/errors.js'

/** One worker at submission, one more if the job times out once (Jobs.sol `timeout`). */
export const MAX_JOB_WORKERS = 2

type Encoded = { v: 1; released: [jobId: string, workers: string[]][] }

export class JobReleases {
  private readonly released = new Map<string, Address[]>()

  static import(bytes: Uint8Array): JobReleases {
    const e = JSON.parse(new TextDecoder().decode(bytes)) as Encoded
    if (e.v !== 1) throw new W3aError('INPUT_MALFORMED', `unknown job-release record version ${String(e.v)}`)
    const out = new JobReleases()
    for (const [jobId, workers] of e.released) out.released.set(jobId, workers.map((w) => w.toLowerCase() as Address))
    return out
  }

  export(): Uint8Array {
    const e: Encoded = { v: 1, released: [...this.released] }
    return new TextEncoder().encode(JSON.stringify(e))
  }

  /** The workers this keeper released the job to, in order (empty for a job never released). */
  workersOf(jobId: bigint): readonly Address[] {
    return this.released.get(jobId.toString()) ?? []
  }

  /** Records a release; false if the worker was on the record already (nothing to persist). */
  record(jobId: bigint, worker: Address): boolean {
    const id = jobId.toString()
    const w = worker.toLowerCase() as Address
    const workers = this.released.get(id) ?? []
    if (workers.includes(w)) return false
    if (workers.length >= MAX_JOB_WORKERS) throw new W3aError('INTERNAL', `job ${id} was released to ${MAX_JOB_WORKERS} workers already`)
    this.released.set(id, [...workers, w])
    return true
  }
}
