/**
 * The worker host's job loop (untrusted side): watches the Jobs contract for jobs assigned to
 * this worker, fetches each job's sealed analysis from storage, asks a keeper for the release,
 * has the enclave run the job, keeps the public result envelope where the analyst can fetch it,
 * and sends the enclave-built result (or failure) transaction. It never sees a key or a row.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { bytesToHex, type Address, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { toJsonText } from '../../core/json-text.js'
import { writeFileAtomic } from '../../core/atomic-write.js'
import { getJob, jobsAbi, listWorkers, type ChainPublicClient } from '../../chain/index.js'
import type { ResultEnvelope } from '../../analysis/index.js'
import type { EnclaveCaller } from './enclave-caller.js'
import type { EnclaveInfo, OwnTxKind } from '../../enclave/service.js'
import type { ReleaseOutcome } from '../../enclave/jobs.js'
import { jobViewOf, type JobView } from '../../enclave/job-view.js'

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
  log: (line: string) => void
}

export type JobLoop = {
  /** The public envelope of a finished job, if this worker ran it. */
  result(jobId: string): ResultEnvelope | undefined
  stop(): Promise<void>
}

/** How long a worker keeps asking keepers that have not yet read the job's block. */
const RELEASE_RETRY_MS = 15_000

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

  const keepers = async () => (await listWorkers(p.publicClient, { registry: p.registry })).filter((w) => w.isKeeper && w.eligible)

  const askRelease = async (job: JobView, sealedAnalysis: Uint8Array): Promise<ReleaseOutcome> => {
    const body = toJsonText({ jobId: job.id, quote: p.info.quote, sealedAnalysis: bytesToHex(sealedAnalysis) })
    const until = Date.now() + RELEASE_RETRY_MS
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
        }
      }
      if (Date.now() > until) return last
      await new Promise((r) => setTimeout(r, 200))
    }
    return last
  }

  const fetchAnalysis = async (cid: string): Promise<Uint8Array | undefined> => {
    // The keeper checks the blob against the job's hashes; a wrong blob is a refusal, not a risk.
    try {
      const res = await fetch(`${p.gatewayUrl}/ipfs/${encodeURIComponent(cid)}?format=raw`, { headers: { accept: 'application/vnd.ipld.raw' } })
      return res.ok ? new Uint8Array(await res.arrayBuffer()) : undefined
    } catch {
      return undefined
    }
  }

  const runOne = async (jobId: bigint) => {
    const job = await getJob(p.publicClient, { jobs: p.jobs, jobId })
    if (job.status !== 'open' || job.worker.toLowerCase() !== me) return
    const started = performance.now()
    // No blob: the keeper is asked with a placeholder, which it refuses (signed) as bad-analysis
    // unless the charge already refused the job for another reason.
    const blob = (await fetchAnalysis(job.analysisCid)) ?? new Uint8Array(1)
    const view = jobViewOf(job)
    const outcome = await askRelease(view, blob)
    if (!outcome.ok && (outcome.reason === 'job-not-open' || outcome.reason === 'not-assigned-worker')) return
    if (!outcome.ok && !outcome.refusal) {
      // The enclave signs a failure only on a keeper's signed (final) refusal: without one the job is left to time out.
      p.log(`job ${job.id}: no release and no signed refusal (${outcome.reason}); not run`)
      return
    }
    const release = outcome.ok ? { sealed: outcome.sealed } : { refused: outcome.refusal }
    const { envelope, stats } = await p.caller.call<{ envelope: ResultEnvelope; stats: { rows: number; fetchMs: number; queryMs: number } }>('runJob', { job: view, release })
    results.set(envelope.jobId, envelope)
    writeFileAtomic(resultFile(envelope.jobId), toJsonText(envelope))
    await p.sendOwnTx(envelope.status === 'completed' ? 'submitResult' : 'submitFailure', job.id)
    await p.caller.call('jobDone', { jobId: job.id })
    const what = envelope.status === 'completed' ? `completed (${stats.rows} rows; fetch+decrypt ${stats.fetchMs.toFixed(0)} ms, query ${stats.queryMs.toFixed(0)} ms)` : `failed: ${envelope.report.reason}`
    p.log(`job ${job.id} ${what} in ${(performance.now() - started).toFixed(0)} ms`)
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
      void runOne(id)
        .catch((e) => p.log(`job ${id}: ${(e as Error).message}`))
        .finally(() => inFlight.delete(id.toString()))
    }
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
    async stop() {
      stopped = true
      clearInterval(timer)
      await ticking
    },
  }
}
