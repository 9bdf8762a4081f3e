/**
 * `w3a storage`: a storage node's host (untrusted). It keeps its own blockstore, serves it as a
 * trustless gateway, runs a `sim` enclave registered as a ROLE_STORAGE worker and as a node of
 * the StorageMarket, and each poll:
 *   1. pins the active orders assigned to it (blocks from the other assigned nodes, then the
 *      gateway; each checked against its CID), which is also the repair of a reassigned order;
 *   2. drops the orders it no longer holds (ended, or removed from it) and their blocks;
 *   3. once per era has its enclave audit what it claims (storage-audit.ts) and posts the report;
 *   4. once per era challenges one random pinned block at each other node of its orders (at
 *      the endpoint each registered on chain, which the signed failure names), and posts the
 *      failures its enclave signed;
 *   5. settles the due eras of its orders, taking turns with their other nodes (storage-settler.ts).
 * The enclave decides what is sampled and what counts as served; the host only carries bytes.
 */
import { mkdirSync } from 'node:fs'
import { randomInt } from 'node:crypto'
import type { Address, LocalAccount } from 'viem'
import { CID } from 'multiformats/cid'
import { createChainClients } from '../chain/index.js'
import { getStorageMarketParams } from '../chain/actions/getStorageMarketParams.js'
import { getStorageNode } from '../chain/actions/getStorageNode.js'
import { listStorageNodes } from '../chain/actions/listStorageNodes.js'
import { listStorageOrders } from '../chain/actions/listStorageOrders.js'
import { recordChallengeFailure } from '../chain/actions/recordChallengeFailure.js'
import { registerStorageNode } from '../chain/actions/registerStorageNode.js'
import { submitWorkReport } from '../chain/actions/submitWorkReport.js'
import type { StorageOrder } from '../chain/storage.js'
import { dataDirLayout } from '../core/data-dir.js'
import { SIM_WARNING, DEV_ATTESTATION_SIGNER } from '../tee/index.js'
import { getRegistryParams, getTcbPolicy } from '../chain/index.js'
import { createTrustlessGateway, openBlockstore, readBlock, withPeerFetch } from '../storage/index.js'
import type { EnclaveInfo } from '../enclave/service.js'
import type { AuditSample, ChallengeOutcome, SignedWorkReport } from '../enclave/storage-audit.js'
import { serveHttp } from './http-server.js'
import { handOverAuditRounds } from './storage-audit-rounds.js'
import { StoragePins } from './storage-pins.js'
import { createStorageSettler } from './storage-settler.js'
import { ROLE, createOwnTxSender, registerOnce, spawnSimEnclave } from './worker/worker-host.js'

export type StorageContracts = { chainId: number; token: Address; workerRegistry: Address; custodyInbox: Address; jobs: Address; storageMarket: Address }

export type StartStorageNodeParameters = {
  dataDir: string
  rpcUrl: string
  /** Where blocks of a new order come from when no other assigned node has them. */
  gatewayUrl: string
  contracts: StorageContracts
  /** Stakes for the node and registers it; its earnings go here. */
  operator: LocalAccount
  dev: boolean
  capacityBytes?: bigint
  port?: number
  /** Listen address (default 127.0.0.1: another machine reaches it only with e.g. 0.0.0.0 and --endpoint). */
  host?: string
  /** URL others fetch blocks at (default: its own listening URL). */
  publicUrl?: string
  /** How often it reads its orders (default 1 s). */
  pollMs?: number
  /** How long a challenged node has to serve a block (default 2 s). */
  challengeDeadlineMs?: number
  heartbeatMs?: number
  /** Code allow-list of the network (default: the enclave's own code). */
  codeMeasurements?: `0x${string}`[]
  log?: (line: string) => void
}

export type RunningStorageNode = {
  address: Address
  url: string
  info: EnclaveInfo
  /** Runs one poll now (pin, drop, report, challenge) and waits for it. */
  pollNow(): Promise<void>
  /** The orders it holds now. */
  pinnedOrders(): bigint[]
  /** Its last signed report (what it posted, or tried to). */
  lastReport(): SignedWorkReport | undefined
  stop(): Promise<void>
}

const DEFAULT_CAPACITY = 100n * 1024n ** 3n

export async function startStorageNode(p: StartStorageNodeParameters): Promise<RunningStorageNode> {
  const log = p.log ?? (() => {})
  const c = p.contracts
  mkdirSync(p.dataDir, { recursive: true, mode: 0o700 })
  const layout = dataDirLayout(p.dataDir)
  mkdirSync(layout.blocksDir, { recursive: true })
  const local = await openBlockstore(layout.blocksDir)
  const pins = new StoragePins(layout.root)
  const { publicClient } = createChainClients({ rpcUrl: p.rpcUrl, chainId: c.chainId })
  const operatorClients = createChainClients({ rpcUrl: p.rpcUrl, chainId: c.chainId, account: p.operator })
  const registryParams = await getRegistryParams(publicClient, { registry: c.workerRegistry })
  const tcb = await getTcbPolicy(publicClient, { registry: c.workerRegistry })
  const { child, caller } = await spawnSimEnclave({
    dataDir: p.dataDir,
    chainId: c.chainId,
    registry: c.workerRegistry,
    inbox: c.custodyInbox,
    jobs: c.jobs,
    storageMarket: c.storageMarket,
    gatewayUrl: p.gatewayUrl.replace(/\/+$/, ''),
    epochLength: registryParams.epochLength.toString(),
    allowSim: p.dev,
    devAttestationSigner: DEV_ATTESTATION_SIGNER,
    tcb,
    minKeepers: registryParams.minKeepers,
    ...(p.codeMeasurements ? { codeMeasurements: p.codeMeasurements } : {}),
  })
  const cleanups: (() => Promise<void> | void)[] = [() => void child.kill('SIGTERM')]
  const stop = async () => {
    for (const f of cleanups.splice(0).reverse()) await f()
  }
  try {
    const info = await caller.call<EnclaveInfo>('init')
    if (info.insecure) log(`!!! ${SIM_WARNING} (storage node ${info.address}) !!!`)
    // The blocks this node holds, over the IPFS trustless-gateway protocol (the gateway's own code); nothing else.
    const gateway = createTrustlessGateway(local)
    const http = await serveHttp(async (req) => (await gateway(req)) ?? new Response('Not found: this storage node serves /ipfs/{cid}?format=raw|car\n', { status: 404 }), { port: p.port ?? 0, ...(p.host ? { host: p.host } : {}) })
    cleanups.push(() => http.close())
    const url = p.publicUrl ?? http.url

    await registerOnce({ caller, publicClient, info, url, rpcUrl: p.rpcUrl, contracts: c, operator: p.operator, roles: ROLE.storage, log })
    const sendOwnTx = createOwnTxSender(caller, publicClient, info.address)
    await sendOwnTx('heartbeat')
    const registered = await getStorageNode(publicClient, { storageMarket: c.storageMarket, worker: info.address }).catch(() => null)
    if (!registered || registered.operator === '0x0000000000000000000000000000000000000000') {
      await registerStorageNode(operatorClients, { storageMarket: c.storageMarket, worker: info.address, endpoint: url, capacityBytes: p.capacityBytes ?? DEFAULT_CAPACITY })
      log(`storage node ${info.address} registered at ${url}`)
    }

    const settler = createStorageSettler({ publicClient, operator: operatorClients, storageMarket: c.storageMarket, self: info.address, log })
    let reportedEra = -1n
    let challengedEra = -1n
    let last: SignedWorkReport | undefined
    const endpoints = async (): Promise<Map<string, string>> =>
      new Map((await listStorageNodes(publicClient, { storageMarket: c.storageMarket })).map((n) => [n.worker.toLowerCase(), n.endpoint]))

    /** Steps 1 and 2: hold exactly the active orders assigned to this node. */
    const follow = async (mine: StorageOrder[], where: Map<string, string>) => {
      for (const o of mine) {
        if (pins.has(o.id)) continue
        // Repair and first fetch alike: the other assigned nodes first, then the gateway; peer-fetch checks every block.
        const peers = [...o.nodes.filter((n) => n.toLowerCase() !== info.address.toLowerCase()).map((n) => where.get(n.toLowerCase())).filter((u): u is string => !!u), p.gatewayUrl]
        const started = performance.now()
        const pinned = await pins.pin(o.id, o.roots, withPeerFetch(local, peers))
        log(`order ${o.id}: pinned ${pinned.blocks.length} blocks in ${Math.round(performance.now() - started)} ms`)
      }
      const live = new Set(mine.map((o) => o.id))
      for (const id of pins.ids()) {
        if (live.has(id)) continue
        log(`order ${id}: no longer ours; dropped ${await pins.drop(id, local)} blocks`)
      }
    }

    /** Step 3: the enclave samples what the host claims and signs; the operator posts it. */
    const report = async (era: bigint) => {
      const begun = await caller.call<AuditSample>('storageAuditBegin', { era, orders: pins.claim() })
      // The enclave walks the orders' DAGs: it names the next blocks from the ones handed over; lost or corrupt ones count failed.
      const read = async (cid: string) => readBlock(local, CID.parse(cid)).catch(() => undefined)
      await handOverAuditRounds(begun, read, (blocks) => caller.call<{ need: string[] }>('storageAuditNext', { era, blocks }))
      last = await caller.call<SignedWorkReport>('storageAuditFinish', { era })
      await submitWorkReport(operatorClients, { storageMarket: c.storageMarket, report: last.report, signature: last.signature })
      log(`era ${era}: work report posted (${last.report.orderIds.length} orders, ${last.report.blocksSampled} sampled, ${last.report.blocksFailed} failed)`)
    }

    /** Step 4: one random block of each shared order at each other node; failures the enclave signed are posted once past their deadline. */
    const challenge = async (era: bigint, mine: StorageOrder[], where: Map<string, string>) => {
      for (const o of mine) {
        const blocks = pins.blocksOf(o.id)
        if (blocks.length === 0) continue
        for (const node of o.nodes) {
          const endpoint = where.get(node.toLowerCase())
          if (!endpoint || node.toLowerCase() === info.address.toLowerCase()) continue
          const cid = blocks[randomInt(blocks.length)]!.cid
          const outcome = await caller.call<ChallengeOutcome>('storageChallenge', { node, endpoint, orderId: o.id, cid, era, deadlineMs: p.challengeDeadlineMs ?? 2_000 })
          if (outcome.served) continue
          // The contract wants the deadline past on chain.
          while ((await publicClient.getBlock()).timestamp <= outcome.challenge.deadline) await new Promise((r) => setTimeout(r, 250))
          try {
            const posted = await recordChallengeFailure(operatorClients, { storageMarket: c.storageMarket, challenge: outcome.challenge, signature: outcome.signature })
            log(`order ${o.id}: node ${node} failed a challenge for ${cid} (reason ${outcome.challenge.reason}); failures ${posted.failures}${posted.removed ? ', removed' : ''}`)
          } catch (e) {
            log(`order ${o.id}: challenge failure of ${node} not recorded: ${(e as Error).message.split('\n')[0]}`)
          }
        }
      }
    }

    const pollOnce = async () => {
      const market = await getStorageMarketParams(publicClient, { storageMarket: c.storageMarket })
      const where = await endpoints()
      const mine = await listStorageOrders(publicClient, { storageMarket: c.storageMarket, node: info.address, status: 'active' })
      await follow(mine, where)
      const era = market.currentEra
      if (era > reportedEra && pins.ids().length > 0) {
        reportedEra = era
        await report(era).catch((e) => log(`era ${era}: work report not posted: ${(e as Error).message.split('\n')[0]}`))
      }
      if (era > challengedEra) {
        challengedEra = era
        await challenge(era, mine, where)
      }
      settler.track(mine)
      await settler.settleDue(era)
    }
    let polling: Promise<void> | undefined
    const pollNow = () => (polling ??= pollOnce().finally(() => (polling = undefined)))
    const timers = [
      setInterval(() => void pollNow().catch((e) => log(`storage poll failed: ${(e as Error).message.split('\n')[0]}`)), p.pollMs ?? 1_000),
      setInterval(() => void sendOwnTx('heartbeat').catch((e) => log(`heartbeat failed: ${(e as Error).message}`)), p.heartbeatMs ?? 20_000),
    ]
    cleanups.push(async () => {
      timers.forEach(clearInterval)
      await polling?.catch(() => {})
    })
    log(`storage node ${info.address} ready at ${url}`)
    return { address: info.address, url, info, pollNow, pinnedOrders: () => pins.ids(), lastReport: () => last, stop }
  } catch (e) {
    await stop()
    throw e
  }
}
