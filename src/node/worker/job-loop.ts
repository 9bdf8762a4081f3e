/**
 * The worker host's job loop (untrusted side): watches the Jobs contract for jobs assigned to
 * this worker, fetches each job's sealed analysis from storage, asks a keeper for the release,
 * has the enclave run the job, keeps the public result envelope where the analyst can fetch it,
 * and sends the enclave-built result (or failure) transaction. It never sees a key or a row.
 *
 * No job is left hanging: jobs run at most `maxConcurrentJobs` at a time (each DuckDB takes
 * up to 1 GB), the rest queue; a job the host cannot take through (no release before the
 * deadline draws near, the enclave or a transaction failing) is given up at once with the
 * enclave's signed `worker-unavailable` failure, which refunds the analyst. What each job is
 * doing is public at GET /v1/jobs/{id}/status (job-status.ts), and every step is logged.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { totalmem } from 'node:os'
import { join } from 'node:path'
import { bytesToHex, type Address, type Hex } from 'viem'
import { W3aError, isW3aError } from '../../core/errors.js'
import { toJsonText } from '../../core/json-text.js'
import { writeFileAtomic } from '../../core/atomic-write.js'
import { getJob, jobsAbi, listWorkers, type ChainPublicClient } from '../../chain/index.js'
import type { ResultEnvelope } from '../../analysis/index.js'
import type { EnclaveCaller } from './enclave-caller.js'
import type { EnclaveInfo, OwnTxKind } from '../../enclave/service.js'
import type { ReleaseOutcome } from '../../enclave/jobs.js'
import { jobViewOf, type JobView } from '../../enclave/job-view.js'
import { JobStatusBoard, type JobStatus } from './job-status.js'
import { fetchSealedAnalysis } from './analysis-blob.js'

export type JobLoopParameters = {
  publicClient: ChainPublicClient
  caller: EnclaveCaller
  info: EnclaveInfo
  jobs: Address
  registry: Address
  gatewayUrl: string
  dataDir: string
  sendOwnTx: (kind: OwnTxKind, jobId?: bigint) => Promise<Hex>
  pollMs?: number
  /** Jobs run at once; the rest wait in order (default: what memory allows, maxConcurrentJobsFor). */
  maxConcurrentJobs?: number
  log: (line: string) => void
}

export type JobLoop = {
  /** The public envelope of a finished job, if this worker ran it. */
  result(jobId: string): ResultEnvelope | undefined
  /** What this worker is doing with a job (public: no data), or undefined if it never saw it. */
  status(jobId: string): JobStatus | undefined
  stop(): Promise<void>
}

/** A worker gives up asking for a release this long before the job's deadline, so the refund comes before a timeout. */
const RELEASE_GIVE_UP_BEFORE_DEADLINE_S = 20
/** A job's DuckDB may use 1 GB; with the decrypted segments and the rest, budget this much per job. */
const JOB_MEMORY_BYTES = 1.5 * 1024 ** 3

/** Concurrent jobs that half of this machine's memory holds (at least one). */
export function maxConcurrentJobsFor(memoryBytes = totalmem()): number {
  return Math.max(1, Math.floor(memoryBytes / 2 / JOB_MEMORY_BYTES))
}

export function startJobLoop(p: JobLoopParameters): JobLoop {
  const resultsDir = join(p.dataDir, 'results')
  mkdirSync(resultsDir, { recursive: true, mode: 0o700 })
  const results = new Map<string, ResultEnvelope>()
  const resultFile = (id: string) => join(resultsDir, `${id}.json`)
  const me = p.info.address.toLowerCase()
  const inFlight = new Set<string>()
  let fromBlock: bigint | undefined
  let stopped = false
  let ticking: Promise<void> | undefined
  const maxJobs = p.maxConcurrentJobs ?? maxConcurrentJobsFor()
  const board = new JobStatusBoard()

  const keepers = async () => (await listWorkers(p.publicClient, { registry: p.registry })).filter((w) => w.isKeeper && w.eligible)

  const askRelease = async (job: JobView, deadline: number, sealedAnalysis: Uint8Array): Promise<ReleaseOutcome> => {
    const body = toJsonText({ jobId: job.id, quote: p.info.quote, sealedAnalysis: bytesToHex(sealedAnalysis) })
    const until = (deadline - RELEASE_GIVE_UP_BEFORE_DEADLINE_S) * 1000
    let last: ReleaseOutcome = { ok: false, reason: 'no-keeper', retry: true }
    while (!stopped) {
      for (const k of await keepers()) {
        try {
          const res = await fetch(`${k.endpoint.replace(/\/+$/, '')}/v1/keeper/release`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
          if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`)
          last = (await res.json()) as ReleaseOutcome
          if (last.ok || !last.retry) return last
        } catch (e) {
          p.log(`job ${job.id}: keeper ${k.address} unreachable: ${(e as Error).message}`)
          last = { ok: false, reason: 'keeper-unreachable', retry: true }
        }
      }
      if (Date.now() > until) return last
      board.set(job.id, { state: 'waiting-for-release', note: last.reason })
      await new Promise((r) => setTimeout(r, 500))
    }
    return last
  }

  /** Sends the enclave's outcome for a job and tells the enclave it was mined. */
  const deliver = async (job: JobView, envelope: ResultEnvelope): Promise<void> => {
    results.set(envelope.jobId, envelope)
    writeFileAtomic(resultFile(envelope.jobId), toJsonText(envelope))
    await p.sendOwnTx(envelope.status === 'completed' ? 'submitResult' : 'submitFailure', job.id)
    await p.caller.call('jobDone', { jobId: job.id })
  }

  /** The job could not be taken through on this side: the enclave's signed refund, sent now. */
  const abandon = async (job: JobView, why: string): Promise<void> => {
    p.log(`job ${job.id}: giving up (${why}); sending the enclave's signed worker-unavailable failure (the analyst is refunded)`)
    const { envelope } = await p.caller.call<{ envelope: ResultEnvelope }>('abandonJob', { job })
    await deliver(job, envelope)
    board.set(job.id, { state: envelope.status === 'completed' ? 'completed' : 'failed', note: envelope.status === 'failed' ? envelope.report.reason : undefined })
  }

  const runOne = async (jobId: bigint) => {
    const job = await getJob(p.publicClient, { jobs: p.jobs, jobId })
    if (job.status !== 'open' || job.worker.toLowerCase() !== me) return board.delete(jobId)
    const started = performance.now()
    const view = jobViewOf(job)
    try {
      board.set(job.id, { state: 'waiting-for-release' })
      // No blob: the keeper is asked with a placeholder; its bad-analysis refusal counts only if a
      // majority of keepers, each fetching the blob through its own host, reach it too.
      const blob = (await fetchSealedAnalysis(p.gatewayUrl, job.analysisCid)) ?? new Uint8Array(1)
      const outcome = await askRelease(view, job.deadline, blob)
      if (!outcome.ok && (outcome.reason === 'job-not-open' || outcome.reason === 'not-assigned-worker')) return board.delete(jobId)
      if (stopped) return
      if (!outcome.ok && !outcome.refusal) return await abandon(view, `no release from any keeper: ${outcome.reason}`)
      board.set(job.id, { state: 'running' })
      const release = outcome.ok ? { sealed: outcome.sealed } : { refused: outcome.refusal }
      const { envelope, stats } = await p.caller.call<{ envelope: ResultEnvelope; stats: { rows: number; fetchMs: number; queryMs: number } }>('runJob', { job: view, release })
      await deliver(view, envelope)
      board.set(job.id, { state: envelope.status === 'completed' ? 'completed' : 'failed', note: envelope.status === 'failed' ? envelope.report.reason : undefined })
      const what = envelope.status === 'completed' ? `completed (${stats.rows} rows; fetch+decrypt ${stats.fetchMs.toFixed(0)} ms, query ${stats.queryMs.toFixed(0)} ms)` : `failed: ${envelope.report.reason}`
      p.log(`job ${job.id} ${what} in ${(performance.now() - started).toFixed(0)} ms`)
    } catch (e) {
      if (isW3aError(e, 'JOB_ALREADY_RUN') || stopped) return board.delete(jobId)
      const still = await getJob(p.publicClient, { jobs: p.jobs, jobId }).catch(() => undefined)
      if (still && (still.status !== 'open' || still.worker.toLowerCase() !== me)) return board.delete(jobId)
      await abandon(view, (e as Error).message)
    }
  }

  /** Jobs wait here, in the order they were assigned, for a free slot. */
  const queue: bigint[] = []
  let running = 0
  const pump = () => {
    while (!stopped && running < maxJobs && queue.length > 0) {
      const id = queue.shift()!
      running++
      void runOne(id)
        .catch((e) => {
          p.log(`job ${id}: ${(e as Error).message}`)
          board.set(id, { state: 'stuck', note: (e as Error).message.slice(0, 200) })
        })
        .finally(() => {
          running--
          inFlight.delete(id.toString())
          pump()
        })
    }
  }

  const tick = async () => {
    const head = await p.publicClient.getBlockNumber({ cacheTime: 0 })
    const from = fromBlock ?? 0n
    if (head < from) return
    const logs = await p.publicClient.getContractEvents({ address: p.jobs, abi: jobsAbi, eventName: 'JobAssigned', args: { worker: p.info.address }, fromBlock: from, toBlock: head })
    fromBlock = head + 1n
    for (const log of logs) {
      const id = log.args.jobId
      if (id === undefined || inFlight.has(id.toString())) continue
      inFlight.add(id.toString())
      queue.push(id)
      board.set(id, { state: 'queued' })
    }
    pump()
  }
  const timer = setInterval(() => {
    if (ticking || stopped) return
    ticking = tick()
      .catch((e) => p.log(`job watch failed: ${(e as Error).message}`))
      .finally(() => (ticking = undefined))
  }, p.pollMs ?? 100)

  return {
    result(jobId) {
      if (!/^(0|[1-9][0-9]{0,77})$/.test(jobId)) throw new W3aError('INVALID_ARGUMENT', `not a job id: ${jobId}`)
      const cached = results.get(jobId)
      if (cached) return cached
      if (!existsSync(resultFile(jobId))) return undefined
      const envelope = JSON.parse(readFileSync(resultFile(jobId), 'utf8')) as ResultEnvelope
      results.set(jobId, envelope)
      return envelope
    },
    status(jobId) {
      if (!/^(0|[1-9][0-9]{0,77})$/.test(jobId)) throw new W3aError('INVALID_ARGUMENT', `not a job id: ${jobId}`)
      return board.get(BigInt(jobId))
    },
    async stop() {
      stopped = true
      clearInterval(timer)
      await ticking
    },
  }
}
