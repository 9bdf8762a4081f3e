import { bytesToHex, type Address, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { getJob, getWorker, type ChainPublicClient } from '../../chain/index.js'
import type { WorkerOnChain } from '../../enclave/jobs.js'
import { jobViewOf } from '../../enclave/job-view.js'
import { MAX_SITE_SETTINGS_BODY } from '../../enclave/ingest-site-settings.js'
import type { JobLoop } from './job-loop.js'
import { json, errorResponse } from '../http-json.js'
import { readBodyText, readJsonBody } from '../http-body.js'
import { withCors, type FetchHandler } from '../http-server.js'
import type { EnclaveCaller } from './enclave-caller.js'
import type { EnclaveInfo, EpochBoundary } from '../../enclave/service.js'
import type { WorkerContracts } from './worker-host.js'
import { collectKeeperVotes, leftOnChain } from './keeper-quorum.js'
import { fetchSealedAnalysis } from './analysis-blob.js'

/** A release request carries the sealed analysis (up to 20,000 characters of SQL, UTF-8) as hex. */
const MAX_RELEASE_BODY = 512 * 1024

function jobIdOf(v: unknown): bigint {
  if (typeof v !== 'string' || !/^(0|[1-9][0-9]{0,77})$/.test(v)) throw new W3aError('INVALID_ARGUMENT', 'request names no job id')
  return BigInt(v)
}

/**
 * The worker's own HTTP endpoint (registered on chain). Everything it answers is public or
 * encrypted to the requester: attestation info, signed receipts, encrypted query answers,
 * and hand-over responses encrypted to the newcomer's attested ephemeral key. So any origin may
 * call it (CORS): the dashboard's page verifies results and talks to keepers directly.
 */
export function createWorkerHttp(params: {
  caller: EnclaveCaller
  info: EnclaveInfo
  publicClient: ChainPublicClient
  contracts: WorkerContracts
  receipts: Map<string, Record<string, unknown>>
  /** Storage this keeper fetches a job's sealed analysis from when it judges another keeper's release. */
  gatewayUrl: string
  /** Filled in once the worker is running (read at request time). */
  hooks: {
    /** Keepers: brings custody state up to the chain head (a release needs the job's charge). */
    syncNow?: () => Promise<void>
    /** Keepers: has the enclave's current state witnessed by its peers (a release needs it committed). */
    commitState?: () => Promise<void>
    jobLoop?: JobLoop
    /** Appends waiting web-analytics rows to their sites' datasets now (ingest-flush-loop.ts). */
    ingestFlush?: () => Promise<void>
    /** The campaign aggregator's routes (campaign-http.ts), when the network has a Campaigns contract. */
    campaignRoutes?: (req: Request, pathname: string) => Promise<Response | null>
  }
}): FetchHandler {
  const { caller, info, publicClient, contracts, receipts } = params
  const hex = (v: unknown, what: string): string => {
    if (typeof v !== 'string' || !/^0x([0-9a-fA-F]{2})+$/.test(v)) throw new W3aError('INVALID_ARGUMENT', `${what} must be 0x-prefixed hex`)
    return v
  }
  const workerFacts = async (address: Address): Promise<WorkerOnChain> => {
    const w = await getWorker(publicClient, { registry: contracts.workerRegistry, worker: address })
    return { address: w.address, hpkePublicKey: w.hpkePublicKey, isCompute: w.roles.includes('compute'), eligible: w.eligible, measurementAllowed: w.measurementAllowed, registeredAt: w.registeredAt }
  }
  /** A job as this host reads it: the view, the assigned worker's facts, and the sealed analysis fetched from this host's gateway. */
  const readRelease = async (jobId: bigint) => {
    const job = await getJob(publicClient, { jobs: contracts.jobs, jobId })
    const [worker, blob] = await Promise.all([workerFacts(job.worker), fetchSealedAnalysis(params.gatewayUrl, job.analysisCid)])
    return { view: jobViewOf(job), worker, sealedAnalysis: blob && bytesToHex(blob) }
  }
  return withCors(async (req) => {
    try {
      const { pathname } = new URL(req.url)
      const campaign = await params.hooks.campaignRoutes?.(req, pathname)
      if (campaign) return campaign
      if (req.method === 'GET' && pathname === '/v1/info') {
        const [processed, parts, boundary, hasSecret, keeperSet] = await Promise.all([
          caller.call<bigint>('nextIndex'),
          caller.call<{ root: string; datasets: string; nonces: string }>('stateRootParts'),
          caller.call<EpochBoundary | undefined>('epochBoundary'),
          caller.call<boolean>('hasClusterSecret'),
          caller.call<unknown>('keeperSet'),
        ])
        return json({ ...info, keeper: { hasClusterSecret: hasSecret, processed, stateRoot: parts.root, contentRoots: { datasets: parts.datasets, nonces: parts.nonces }, boundary: boundary ?? null, keeperSet } })
      }
      const receipt = /^\/v1\/custody\/receipts\/(\d+)$/.exec(pathname)
      if (req.method === 'GET' && receipt) {
        const r = receipts.get(receipt[1]!)
        return r ? json(r) : json(new W3aError('INVALID_ARGUMENT', `no receipt for inbox entry ${receipt[1]} yet`).toJSON(), 404)
      }
      if (req.method === 'POST' && pathname === '/v1/custody/query') {
        const request = await readJsonBody(req)
        // Read-your-writes: a command another keeper already gave a receipt for is on chain; answer after it.
        await params.hooks.syncNow?.()
        return json(await caller.call('answerQuery', { request, now: Math.floor(Date.now() / 1000) }))
      }
      if (req.method === 'POST' && pathname === '/v1/keeper/handover') {
        const request = (await readJsonBody(req)) as { worker?: string }
        if (typeof request?.worker !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(request.worker)) {
          throw new W3aError('INVALID_ARGUMENT', 'hand-over request names no worker address')
        }
        // The chain's keeper role is an extra gate; the enclave verifies the newcomer's quote itself.
        const w = await getWorker(publicClient, { registry: contracts.workerRegistry, worker: request.worker as Address })
        const response = await caller.call('serveHandover', { request, newcomerIsKeeper: w.isKeeper, newcomerRegisteredAt: w.registeredAt })
        return json(response)
      }
      // Rollback protection: served from the start (keepers restarted together vouch for each other);
      // the enclave answers only about keepers it verified itself, and signs what it answers.
      if (req.method === 'POST' && pathname === '/v1/keeper/witness') {
        const body = (await readJsonBody(req)) as { statement?: unknown }
        return json(await caller.call('witness', { statement: body?.statement }))
      }
      if (req.method === 'POST' && pathname === '/v1/keeper/freshness') {
        const body = (await readJsonBody(req)) as { keeper?: unknown; nonce?: unknown }
        return json(await caller.call('attestFreshness', { keeper: body?.keeper, nonce: body?.nonce }))
      }
      if (req.method === 'POST' && pathname === '/v1/keeper/approve-registration' && params.hooks.syncNow) {
        // { registration: { worker, teeType, measurement, hpkePublicKey, roles, quote }, collateral?, attestedAt? }: the enclave checks it all.
        const body = (await readJsonBody(req, MAX_RELEASE_BODY)) as { registration?: unknown; collateral?: unknown; attestedAt?: unknown }
        return json(await caller.call('approveRegistration', { registration: body?.registration, collateral: body?.collateral, attestedAt: body?.attestedAt }))
      }
      if (req.method === 'POST' && pathname === '/v1/keeper/confirm-charge' && params.hooks.syncNow) {
        // The enclave signs only what its own state holds; reading the chain first lets it have the job's block.
        const body = (await readJsonBody(req)) as { jobId?: unknown; challenge?: unknown; quote?: unknown }
        // The job, its worker and its sealed analysis as THIS host reads them: a majority of hosts must agree on a release or a refusal.
        const { view, worker, sealedAnalysis } = await readRelease(jobIdOf(body?.jobId))
        // Storage this host cannot read is no reason to refuse (that would be a bad-analysis vote): it says nothing.
        if (sealedAnalysis === undefined) return json({ ok: false, reason: 'analysis-unavailable' })
        await params.hooks.syncNow()
        return json(await caller.call('voteOnRelease', { challenge: body?.challenge, job: view, worker, quote: hex(body?.quote, 'quote'), sealedAnalysis }))
      }
      if (req.method === 'POST' && pathname === '/v1/keeper/approve-removal' && params.hooks.syncNow) {
        const body = (await readJsonBody(req)) as { keeper?: unknown }
        if (typeof body?.keeper !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(body.keeper)) throw new W3aError('INVALID_ARGUMENT', 'removal request names no keeper address')
        // Whether the keeper is gone as THIS host reads the registry: the enclave approves only then (or its own exit).
        const w = await getWorker(publicClient, { registry: contracts.workerRegistry, worker: body.keeper as Address }).catch(() => undefined)
        await params.hooks.syncNow()
        return json(await caller.call('approveKeeperRemoval', { keeper: body.keeper, activeOnChain: w === undefined ? true : !leftOnChain(w) }))
      }
      if (req.method === 'GET' && pathname === '/v1/analysis-key' && params.hooks.syncNow) {
        return json(await caller.call('analysisKey'))
      }
      if (req.method === 'POST' && pathname === '/v1/keeper/release' && params.hooks.syncNow) {
        const body = (await readJsonBody(req, MAX_RELEASE_BODY)) as { jobId?: unknown; quote?: unknown; sealedAnalysis?: unknown }
        const job = await getJob(publicClient, { jobs: contracts.jobs, jobId: jobIdOf(body?.jobId) })
        const worker = await workerFacts(job.worker)
        await params.hooks.syncNow()
        await params.hooks.commitState?.()
        const quote = hex(body.quote, 'quote') as Hex
        // The other keepers' word (a charge confirmation or a refusal vote; the enclave counts a majority itself).
        const { confirmations, votes } = await collectKeeperVotes({ caller, publicClient, registry: contracts.workerRegistry, self: info.address, jobId: job.id, quote })
        return json(await caller.call('releaseJob', { job: jobViewOf(job), worker, quote, sealedAnalysis: hex(body.sealedAnalysis, 'sealedAnalysis'), confirmations, votes }))
      }
      // One web-analytics event (the gateway's events come on the stream, ingest-stream-route.ts): the enclave opens and checks everything.
      if (req.method === 'POST' && pathname === '/v1/ingest/event') {
        const body = (await readJsonBody(req)) as { envelope?: unknown; ip?: unknown; userAgent?: unknown }
        return json(await caller.call('ingestEvent', { envelope: body?.envelope, ip: body?.ip, userAgent: body?.userAgent }))
      }
      if (req.method === 'POST' && pathname === '/v1/ingest/sites') {
        const body = (await readJsonBody(req)) as { request?: unknown }
        return json(await caller.call('ingestRegisterSite', { request: body?.request }))
      }
      if (req.method === 'GET' && pathname === '/v1/ingest/status') return json(await caller.call('ingestStatus'))
      if (req.method === 'POST' && pathname === '/v1/ingest/stats') {
        const body = (await readJsonBody(req)) as { request?: unknown }
        return json(await caller.call('ingestStats', { request: body?.request }))
      }
      if (req.method === 'POST' && pathname === '/v1/ingest/site-settings/read') {
        const body = (await readJsonBody(req)) as { request?: unknown }
        return json(await caller.call('ingestSiteSettings', { request: body?.request }))
      }
      if (req.method === 'POST' && pathname === '/v1/ingest/site-settings') {
        const body = (await readJsonBody(req, MAX_SITE_SETTINGS_BODY)) as { request?: unknown }
        const answer = await caller.call('ingestSetSiteSettings', { request: body?.request })
        // Witnessed before the answer goes out, so the peers refuse a restored copy from before this version (no roll-back of settings).
        await params.hooks.commitState?.().catch(() => {})
        return json(answer)
      }
      if (req.method === 'POST' && pathname === '/v1/ingest/visitor') {
        const body = (await readJsonBody(req)) as { request?: unknown }
        const answer = await caller.call<{ receipt: { kind: string } }>('ingestVisitor', { request: body?.request })
        if (answer.receipt.kind === 'delete') {
          // Witnessed before the receipt goes out, so the peers refuse a restored copy from before the deletion (rollback protection).
          await params.hooks.commitState?.().catch(() => {})
          // A deletion's rewrite of the stored segments starts now rather than at the next flush tick.
          void params.hooks.ingestFlush?.().catch(() => {})
        }
        return json(answer)
      }
      const status = /^\/v1\/jobs\/(\d+)\/status$/.exec(pathname)
      if (req.method === 'GET' && status && params.hooks.jobLoop) {
        const s = params.hooks.jobLoop.status(status[1]!)
        return s ? json(s) : json(new W3aError('INVALID_ARGUMENT', `this worker has no job ${status[1]} in hand`).toJSON(), 404)
      }
      const result = /^\/v1\/jobs\/(\d+)\/result$/.exec(pathname)
      if (req.method === 'GET' && result && params.hooks.jobLoop) {
        const envelope = params.hooks.jobLoop.result(result[1]!)
        return envelope ? json(envelope) : json(new W3aError('INVALID_ARGUMENT', `this worker has no result for job ${result[1]} (yet)`).toJSON(), 404)
      }
      return json(new W3aError('INVALID_ARGUMENT', `no route for ${req.method} ${pathname}`).toJSON(), 404)
    } catch (e) {
      return errorResponse(e)
    }
  })
}
