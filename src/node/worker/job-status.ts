/**
 * What a worker host is doing with each job assigned to it, served publicly at
 * GET /v1/jobs/{id}/status so `w3a job show` can say why an open job is not done yet.
 * Host-side facts only: states and reasons, never data.
 */
export type JobState = 'queued' | 'waiting-for-release' | 'running' | 'completed' | 'failed' | 'stuck'

export type JobStatus = { state: JobState; note?: string; since: number }

/** Bounded: the oldest entries go first once it holds this many jobs. */
const MAX_ENTRIES = 10_000

export class JobStatusBoard {
  private readonly entries = new Map<string, JobStatus>()

  set(jobId: bigint, s: { state: JobState; note?: string | undefined }): void {
    const key = jobId.toString()
    this.entries.delete(key)
    this.entries.set(key, { state: s.state, ...(s.note === undefined ? {} : { note: s.note }), since: Math.floor(Date.now() / 1000) })
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!)
  }

  get(jobId: bigint): JobStatus | undefined {
    return this.entries.get(jobId.toString())
  }

  delete(jobId: bigint): void {
    this.entries.delete(jobId.toString())
  }
}
