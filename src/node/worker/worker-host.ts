import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { appendFileSync, mkdirSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Address, Hex, LocalAccount } from 'viem'
import { W3aError } from '../../core/errors.js'
import { toJsonText } from '../../core/json-text.js'
import { writeFileAtomic } from '../../core/atomic-write.js'
import {
  createChainClients,
  getWorker,
  listWorkers,
  registerWorker,
  readInbox,
  getCurrentEpoch,
  getEpochKeyVote,
  getRegistryParams,
  getTcbPolicy,
  type ChainPublicClient,
} from '../../chain/index.js'
import { SIM_WARNING, DEV_ATTESTATION_SIGNER } from '../../tee/index.js'
import { createEnclaveCaller, type EnclaveCaller } from './enclave-caller.js'
import type { EnclaveInfo, EpochBoundary, OwnTxKind } from '../../enclave/service.js'
import type { EnclaveBoot } from '../../enclave/boot.js'
import { serveHttp, type FetchHandler, type HttpServer } from '../http-server.js'
import { acceptIngestStreams } from './ingest-stream-route.js'
import { createWorkerHttp } from './worker-http.js'
import { startJobLoop } from './job-loop.js'
import { startIngestFlushLoop } from './ingest-flush-loop.js'
import { startCampaignLoop } from './campaign-loop.js'
import { createCampaignHttp } from './campaign-http.js'
import { createKeeperWitnesses } from './keeper-witnesses.js'
import { proposeKeeperRemovals, joinKeeperSet, type KeeperSetView } from './keeper-quorum.js'
import { startKeeperJoinLoop } from './keeper-join-loop.js'

export const ROLE = { compute: 1, keeper: 2, storage: 4 } as const

export type WorkerContracts = { chainId: number; token: Address; workerRegistry: Address; custodyInbox: Address; jobs: Address; campaigns?: Address }

export type StartWorkerParameters = {
  dataDir: string
  tee: 'sim' | 'tdx'
  keeper: boolean
  rpcUrl: string
  /** Storage (trustless gateway) the worker fetches sealed analyses and dataset blocks from. */
  gatewayUrl: string
  contracts: WorkerContracts
  /** Pays for registration and stakes; the worker key itself only sends its own calls. */
  operator: LocalAccount
  /** Dev networks accept `sim`; production never does. */
  dev: boolean
  /**
   * The network's genesis code allow-list (bundle hashes). Part of the enclave's measured
   * config (docs/tee.md); default: the enclave's own code, as `w3a up` allows.
   */
  codeMeasurements?: Hex[]
  port?: number
  /** Listen address (default 127.0.0.1; a machine's own address when other machines reach it directly). */
  host?: string
  /** URL others use to reach this worker (default: its own listening URL). */
  publicUrl?: string
  heartbeatMs?: number
  pollMs?: number
  /** How often the worker looks for jobs assigned to it (default 100 ms: a read of the block number while idle). */
  jobPollMs?: number
  /** How often waiting web-analytics rows are appended to their sites' datasets (default 10 s). */
  ingestFlushMs?: number
  log?: (line: string) => void
  /**
   * Wraps the host's two surfaces, the enclave door and the HTTP handler it serves: whatever a
   * host sees passes through them (test/hostile-keeper-host.ts records and attacks through these).
   */
  intercept?: { caller?: (caller: EnclaveCaller) => EnclaveCaller; http?: (handler: FetchHandler) => FetchHandler }
}

export type RunningWorker = {
  address: Address
  url: string
  info: EnclaveInfo
  /** Waits until the keeper has applied every inbox entry posted so far. */
  syncNow(): Promise<void>
  stop(): Promise<void>
}

/** How often a keeper's host checks its keeper set against the chain for members that exited or were slashed. */
const KEEPER_REMOVAL_CHECK_MS = 15_000

const ENCLAVE_MAIN = fileURLToPath(new URL('../../enclave/main.js', import.meta.url))

/** Starts a `sim` enclave process with these boot values (public ones only) and waits until it answers. */
export function spawnSimEnclave(config: EnclaveBoot): Promise<{ child: ChildProcess; caller: EnclaveCaller }> {
  // Under tsx (tests) the .js path maps to the .ts source; execArgv carries the loader over.
  const entry = existsSync(ENCLAVE_MAIN) ? ENCLAVE_MAIN : ENCLAVE_MAIN.replace(/\.js$/, '.ts')
  const child = fork(entry, [], {
    serialization: 'advanced',
    env: { ...process.env, W3A_ENCLAVE_CONFIG: toJsonText(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new W3aError('INTERNAL', `enclave process exited during start (${code})`)))
    child.once('message', () => {
      child.removeAllListeners('exit')
      resolve({ child, caller: createEnclaveCaller(child) })
    })
  })
}

/**
 * `w3a worker`: runs one TEE worker. The host (this process) is untrusted: it talks to the
 * chain and the network and relays ciphertext; keys, the cluster secret and the custody
 * state live in the enclave (for `sim`, a child process).
 */
export async function startWorker(params: StartWorkerParameters): Promise<RunningWorker> {
  const log = params.log ?? (() => {})
  if (params.tee === 'sim' && !params.dev) {
    throw new W3aError('SIM_NOT_ALLOWED', 'the simulated TEE runs only on dev networks', { details: ['Use --tee tdx on a TDX machine.'] })
  }
  if (params.tee !== 'sim') {
    throw new W3aError('INVALID_ARGUMENT', `--tee ${params.tee}: running a worker on TDX hardware is not supported by this build yet`, {
      details: ['TDX quotes can be verified (w3a attest verify); a TDX worker needs a TDX guest and a sealing key provider.'],
    })
  }
  mkdirSync(params.dataDir, { recursive: true, mode: 0o700 })
  const { publicClient } = createChainClients({ rpcUrl: params.rpcUrl, chainId: params.contracts.chainId })
  const registryParams = await getRegistryParams(publicClient, { registry: params.contracts.workerRegistry })
  // The registry's TCB policy, read once at start. It is part of the measured network config:
  // after a governance change a restarted worker has another measurement (docs/tee.md).
  const tcb = await getTcbPolicy(publicClient, { registry: params.contracts.workerRegistry })
  // The network config is measured by the enclave: no policy crosses this line, only the
  // values the policy is derived from, and changing them changes the worker's measurement.
  const { child, caller: door } = await spawnSimEnclave({
    dataDir: params.dataDir,
    chainId: params.contracts.chainId,
    registry: params.contracts.workerRegistry,
    inbox: params.contracts.custodyInbox,
    jobs: params.contracts.jobs,
    gatewayUrl: params.gatewayUrl.replace(/\/+$/, ''),
    epochLength: registryParams.epochLength.toString(),
    allowSim: params.dev,
    devAttestationSigner: DEV_ATTESTATION_SIGNER,
    tcb,
    minKeepers: registryParams.minKeepers,
    ...(params.codeMeasurements ? { codeMeasurements: params.codeMeasurements } : {}),
  })
  const caller = params.intercept?.caller?.(door) ?? door
  const cleanups: (() => Promise<void> | void)[] = [() => void child.kill('SIGTERM')]
  const stopAll = async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  }
  try {
    const info = await caller.call<EnclaveInfo>('init')
    if (info.insecure) log(`!!! ${SIM_WARNING} (worker ${info.address}) !!!`)

    const receiptsFile = join(params.dataDir, 'receipts.jsonl')
    const receipts = new Map<string, Record<string, unknown>>()
    if (existsSync(receiptsFile)) {
      for (const line of readFileSync(receiptsFile, 'utf8').split('\n')) if (line) { const r = JSON.parse(line) as Record<string, unknown>; receipts.set(String(r['index']), r) }
    }

    // The endpoint is registered on chain once, so a restarted worker listens where it did before.
    const portFile = join(params.dataDir, 'endpoint.json')
    const savedPort = existsSync(portFile) ? (JSON.parse(readFileSync(portFile, 'utf8')) as { port: number }).port : undefined
    const hooks: Parameters<typeof createWorkerHttp>[0]['hooks'] = {}
    const handler = createWorkerHttp({ caller, info, publicClient, contracts: params.contracts, receipts, gatewayUrl: params.gatewayUrl, hooks })
    const http: HttpServer = await serveHttp(params.intercept?.http?.(handler) ?? handler, { port: params.port ?? savedPort ?? 0, ...(params.host ? { host: params.host } : {}) })
    cleanups.push(() => http.close())
    acceptIngestStreams(http.server, caller, log)
    writeFileAtomic(portFile, JSON.stringify({ port: http.port }))
    const url = params.publicUrl ?? http.url

    const sendOwnTx = createOwnTxSender(caller, publicClient, info.address)

    await registerOnce({ caller, publicClient, info, url, rpcUrl: params.rpcUrl, contracts: params.contracts, operator: params.operator, roles: ROLE.compute | (params.keeper ? ROLE.keeper : 0), log })
    await sendOwnTx('heartbeat')

    // On existing sealed state the enclave is locked until peer keepers vouch that it is the latest
    // (rollback protection); a rolled-back one has erased it and gets it back by hand-over below.
    const witnesses = createKeeperWitnesses({ caller, publicClient, registry: params.contracts.workerRegistry, self: info.address, log })
    await witnesses.resume()

    let syncing: Promise<void> | undefined
    let lastRootEpoch = -1n
    let lastVoteEpoch = -1n
    const syncOnce = async () => {
      const head = await publicClient.getBlockNumber({ cacheTime: 0 }) // no cache: a head up to 4 s old misses the entry a caller just posted (ingest-flush-loop waits for its receipt)
      const headEpoch = head / registryParams.epochLength
      const from = await caller.call<bigint>('nextIndex')
      const entries = await readInbox(publicClient, { inbox: params.contracts.custodyInbox, fromIndex: from, toBlock: head })
      const out = await caller.call<{ receipts: Record<string, unknown>[]; stateRoot: Hex; processed: bigint; epoch: bigint }>('applyEntries', { entries, headEpoch })
      for (const r of out.receipts) {
        receipts.set(String(r['index']), r)
        appendFileSync(receiptsFile, toJsonText(r) + '\n')
      }
      if (out.receipts.length > 0) await witnesses.commit().catch((e) => log(`state not yet witnessed: ${(e as Error).message}`))
      // Every keeper votes once per epoch for the key its own enclave derived; the key counts for
      // owners only once a strict majority of the active keepers agree (WorkerRegistry). Also a
      // keeper that joined mid-epoch (by hand-over): without its vote the majority may not be reached.
      if (params.keeper && (await caller.call<boolean>('hasClusterSecret'))) {
        const { epoch } = await caller.call<{ epoch: bigint }>('epochPublicKey')
        if (epoch > lastVoteEpoch) {
          try {
            if ((await getEpochKeyVote(publicClient, { registry: params.contracts.workerRegistry, epoch, keeper: info.address })) === null) await sendOwnTx('publishEpochKey')
            lastVoteEpoch = epoch
          } catch (e) {
            log(`epoch ${epoch}: key vote not sent yet (${(e as Error).message.split('\n')[0]}); retrying at the next sync`)
          }
        }
      }
      const boundary = await caller.call<EpochBoundary | undefined>('epochBoundary')
      if (boundary && boundary.epoch > lastRootEpoch) {
        await sendOwnTx('publishStateRoot')
        lastRootEpoch = boundary.epoch
        log(`epoch ${boundary.epoch}: state root ${boundary.stateRoot.slice(0, 18)}… after ${boundary.processed} commands`)
      }
    }
    const syncNow = () => (syncing ??= syncOnce().finally(() => (syncing = undefined)))

    if (params.keeper) {
      if (!(await caller.call<boolean>('hasClusterSecret'))) {
        const others = (await listWorkers(publicClient, { registry: params.contracts.workerRegistry })).filter(
          (w) => w.address.toLowerCase() !== info.address.toLowerCase() && w.isKeeper && w.eligible,
        )
        if (others.length === 0) {
          const epoch = await getCurrentEpoch(publicClient, { registry: params.contracts.workerRegistry })
          await caller.call('bootstrapCluster', { epoch })
          log(`first keeper: cluster secret made inside the enclave at epoch ${epoch}`)
        } else {
          await requestHandover(caller, others.map((o) => ({ address: o.address, endpoint: o.endpoint })), log)
        }
      }
      await syncNow()
      // Not yet in the custody keeper set (a newcomer after its hand-over): ask the members to admit it.
      const writer = createChainClients({ rpcUrl: params.rpcUrl, chainId: params.contracts.chainId, account: params.operator })
      const quorumPeers = { caller, publicClient, registry: params.contracts.workerRegistry, self: info.address, info, roles: ROLE.compute | ROLE.keeper, inbox: params.contracts.custodyInbox, writer }
      // Asked again until admitted (keeper-join-loop.ts): a refused or failed attempt is no reason to stay out.
      const joining = startKeeperJoinLoop({
        steps: {
          isMember: async () => (await caller.call<KeeperSetView>('keeperSet')).member,
          postAdmission: () => joinKeeperSet(quorumPeers),
          sync: syncNow,
          refusal: (index) => (receipts.get(String(index))?.['reason'] as string | undefined) || undefined,
        },
        log,
        onJoined: async () => log(`in the custody keeper set of ${(await caller.call<KeeperSetView>('keeperSet')).keepers.length} member(s)`),
      })
      cleanups.push(() => joining.stop())
      await joining.firstAttempt
      // Members gone from the chain (exited, slashed) leave the keeper set by a majority's approvals, so quorums follow the live set.
      let removing: Promise<void> | undefined
      const removals = setInterval(() => {
        removing ??= proposeKeeperRemovals({ ...quorumPeers, log })
          .then((gone) => gone.forEach((k) => log(`keeper removal of ${k} posted (it left the chain's keepers)`)))
          .catch((e) => log(`keeper removal check failed: ${(e as Error).message}`))
          .finally(() => (removing = undefined))
      }, KEEPER_REMOVAL_CHECK_MS)
      cleanups.push(async () => {
        clearInterval(removals)
        await removing
      })
    }

    if (params.keeper) {
      hooks.syncNow = syncNow
      hooks.commitState = () => witnesses.commit()
    }
    const jobLoop = startJobLoop({
      publicClient,
      caller,
      info,
      jobs: params.contracts.jobs,
      registry: params.contracts.workerRegistry,
      gatewayUrl: params.gatewayUrl.replace(/\/+$/, ''),
      dataDir: params.dataDir,
      sendOwnTx,
      ...(params.jobPollMs !== undefined ? { pollMs: params.jobPollMs } : {}),
      log,
    })
    hooks.jobLoop = jobLoop
    cleanups.push(() => jobLoop.stop())

    // Web-analytics rows into their sites' datasets (ingest-flush-loop.ts).
    const flushLoop = startIngestFlushLoop({
      caller,
      publicClient,
      workerRegistry: params.contracts.workerRegistry,
      sendOwnTx: (kind, o) => sendOwnTx(kind, undefined, o?.site),
      ...(params.keeper ? { keeper: { syncNow, receipt: (index: bigint) => receipts.get(String(index)), commitState: () => witnesses.commit() } } : {}),
      flushMs: params.ingestFlushMs ?? 10_000,
      log,
    })
    hooks.ingestFlush = flushLoop.flushNow
    cleanups.push(() => flushLoop.stop())

    // Federated campaigns assigned to this worker (campaign-loop.ts; docs/campaigns.md).
    const campaigns = params.contracts.campaigns
    if (campaigns) {
      const loop = startCampaignLoop({ caller, publicClient, rpcUrl: params.rpcUrl, chainId: params.contracts.chainId, campaigns, self: info.address, operator: params.operator, dataDir: params.dataDir, log })
      hooks.campaignRoutes = createCampaignHttp({ caller, campaigns, loop })
      cleanups.push(() => loop.stop())
    }

    const timers = [
      setInterval(() => void sendOwnTx('heartbeat').catch((e) => log(`heartbeat failed: ${(e as Error).message}`)), params.heartbeatMs ?? 20_000),
      ...(params.keeper ? [setInterval(() => void syncNow().catch((e) => log(`inbox sync failed: ${(e as Error).message}`)), params.pollMs ?? 1_000)] : []),
    ]
    cleanups.push(() => timers.forEach(clearInterval))
    cleanups.push(async () => {
      await syncing?.catch(() => {})
    })
    log(`worker ${info.address} ready at ${url}${params.keeper ? ' (keeper)' : ''}`)
    return { address: info.address, url, info, syncNow, stop: stopAll }
  } catch (e) {
    await stopAll()
    throw e
  }
}

/**
 * The worker key's own transactions, one at a time (heartbeats, roots and job results share its
 * nonce): the enclave signs each, the host only relays it.
 */
export function createOwnTxSender(caller: EnclaveCaller, publicClient: ChainPublicClient, worker: Address): (kind: OwnTxKind, jobId?: bigint, site?: Hex) => Promise<Hex> {
  let txQueue: Promise<unknown> = Promise.resolve()
  const sendOwnTxNow = async (kind: OwnTxKind, jobId?: bigint, site?: Hex) => {
    const [nonce, fees] = await Promise.all([
      publicClient.getTransactionCount({ address: worker, blockTag: 'pending' }),
      publicClient.estimateFeesPerGas(),
    ])
    const gas = kind === 'submitResult' || kind === 'submitFailure' || kind === 'siteCommand' ? 600_000n : 300_000n
    const raw = await caller.call<Hex>('signOwnTx', { kind, ...(jobId !== undefined ? { jobId } : {}), ...(site !== undefined ? { site } : {}), nonce, gas, maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: fees.maxPriorityFeePerGas })
    const hash = await publicClient.sendRawTransaction({ serializedTransaction: raw })
    const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 })
    if (receipt.status !== 'success') throw new W3aError('TX_REVERTED', `worker transaction ${kind} reverted`, { details: [`tx ${hash}`] })
    return hash
  }
  const sendOwnTx = (kind: OwnTxKind, jobId?: bigint, site?: Hex): Promise<Hex> => {
    const next = txQueue.then(() => sendOwnTxNow(kind, jobId, site))
    txQueue = next.catch(() => undefined)
    return next
  }
  return sendOwnTx
}

export type RegisterOnceParameters = {
  caller: EnclaveCaller
  publicClient: ChainPublicClient
  info: EnclaveInfo
  /** The endpoint registered (and warned about when it moved). */
  url: string
  rpcUrl: string
  contracts: Pick<WorkerContracts, 'chainId' | 'token' | 'workerRegistry'>
  operator: LocalAccount
  /** ROLE bits. */
  roles: number
  log: (line: string) => void
}

/** Registers the enclave's key in the WorkerRegistry once (the enclave signs its consent; the operator stakes and pays). */
export async function registerOnce(p: RegisterOnceParameters): Promise<void> {
  const existing = await getWorker(p.publicClient, { registry: p.contracts.workerRegistry, worker: p.info.address }).catch(() => null)
  if (existing && existing.endpoint !== p.url) {
    p.log(`warning: this worker is registered at ${existing.endpoint} but listens at ${p.url}; clients will not reach it`)
  }
  if (!existing) {
    p.log(`registering worker ${p.info.address} (${p.info.teeType}, measurement ${p.info.measurement.slice(0, 18)}…)`)
    const possession = await p.caller.call<Hex>('signPossession', { operator: p.operator.address })
    const operatorClients = createChainClients({ rpcUrl: p.rpcUrl, chainId: p.contracts.chainId, account: p.operator })
    await registerWorker(operatorClients, {
      registry: p.contracts.workerRegistry,
      token: p.contracts.token,
      worker: p.info.address,
      teeType: 'sim',
      measurement: p.info.measurement,
      hpkePublicKey: p.info.hpkePublicKey,
      roles: p.roles,
      endpoint: p.url,
      quote: p.info.quote,
      workerSignature: possession,
      gasFunding: 10n ** 18n,
    })
  }
}

async function requestHandover(caller: EnclaveCaller, keepers: { address: Address; endpoint: string }[], log: (l: string) => void): Promise<void> {
  const problems: string[] = []
  for (const k of keepers) {
    try {
      // A fresh request per keeper: the enclave's ephemeral key is good for one answer only.
      const request = await caller.call<unknown>('requestHandover')
      const res = await fetch(`${k.endpoint.replace(/\/+$/, '')}/v1/keeper/handover`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: toJsonText(request),
      })
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`)
      // The enclave names the sender from the quote it verified; the host names nobody.
      const out = await caller.call<{ from: Address; epoch: bigint; processed: bigint; stateRoot: Hex }>('receiveHandover', { response: await res.json() })
      log(`hand-over from keeper ${out.from}: epoch ${out.epoch}, ${out.processed} commands, root ${out.stateRoot.slice(0, 18)}…`)
      return
    } catch (e) {
      problems.push(`${k.address}: ${(e as Error).message.split('\n')[0]}`)
      log(`hand-over from ${k.address} failed: ${(e as Error).message}`)
    }
  }
  throw new W3aError('HANDOVER_FAILED', `none of the ${keepers.length} current keeper(s) handed over the cluster secret`, {
    details: [...problems, 'Check that these keepers are running and reachable at their registered endpoints (`w3a workers ls`), then start this keeper again.'],
  })
}
