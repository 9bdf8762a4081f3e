/**
 * The enclave's record of the jobs it has run: one run per job id. The first outcome of a job
 * (result or failure, signed) is kept sealed until its transaction is mined, then only the id
 * is kept. Asked to run a job again, the enclave hands back the same signed outcome, or
 * refuses once it is final; so a host cannot re-run a job for fresh samples, nor turn a
 * delivered result into a signed failure (and a refund) by failing a second run.
 *
 * Residual (docs/design/trust-boundary.md): the record is part of the enclave's versioned sealed
 * state, so an older copy is refused once peer keepers witnessed the newer one (freshness.ts); a
 * lone keeper or a compute-only worker has no such witness, and there the job's noise seed still
 * makes a re-run release the same numbers.
 */
import type { ResultEnvelope } from '../analysis/index.js'
import { W3aError } from '../core/errors.js'
import type { JobTx } from './jobs.js'

export type JobOutcome = { envelope: ResultEnvelope; tx: JobTx }

type Encoded = { v: 1; done: string[]; pending: { jobId: string; envelope: ResultEnvelope; tx: Omit<JobTx, 'jobId'> }[] }

export class JobOutcomes {
  private readonly done = new Set<string>()
  private readonly pending = new Map<string, JobOutcome>()

  static import(bytes: Uint8Array): JobOutcomes {
    const e = JSON.parse(new TextDecoder().decode(bytes)) as Encoded
    if (e.v !== 1) throw new W3aError('INPUT_MALFORMED', `unknown job-outcome record version ${String(e.v)}`)
    const out = new JobOutcomes()
    for (const id of e.done) out.done.add(id)
    for (const p of e.pending) out.pending.set(p.jobId, { envelope: p.envelope, tx: { ...p.tx, jobId: BigInt(p.jobId) } as JobTx })
    return out
  }

  export(): Uint8Array {
    const e: Encoded = {
      v: 1,
      done: [...this.done],
      pending: [...this.pending].map(([jobId, o]) => {
        const { jobId: _, ...tx } = o.tx
        return { jobId, envelope: o.envelope, tx }
      }),
    }
    return new TextEncoder().encode(JSON.stringify(e))
  }

  /** The outcome to hand back for a job run before, or undefined for a job never run. */
  previous(jobId: bigint): JobOutcome | undefined {
    const id = jobId.toString()
    if (this.done.has(id)) throw new W3aError('JOB_ALREADY_RUN', `job ${id} was run by this worker and its outcome is on chain; it is not run again`)
    return this.pending.get(id)
  }

  record(jobId: bigint, outcome: JobOutcome): void {
    this.pending.set(jobId.toString(), outcome)
  }

  /** The outcome's transaction was mined: keep only the id. */
  finish(jobId: bigint): boolean {
    const id = jobId.toString()
    if (!this.pending.delete(id) && this.done.has(id)) return false
    this.done.add(id)
    return true
  }

  pendingTx(jobId: bigint): JobTx | undefined {
    return this.pending.get(jobId.toString())?.tx
  }
}
