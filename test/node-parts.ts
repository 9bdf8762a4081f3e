/**
 * Shared setup of the tests that run every part as its own process (multi-node, storage mining):
 * a work dir, Anvil with real 1 s blocks, the contracts put there by `w3a deploy --dev`, and
 * `w3a gateway` / `w3a worker` / `w3a storage` processes started with --json, each with its own
 * data dir, all stopped (newest first) by `stop()`. Given a NodeNet (test/node-net.ts), Anvil
 * listens on its hub address and a part given a NodePlace runs there, on that place's address.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import assert from 'node:assert/strict'
import type { Address } from 'viem'
import { startAnvil, type AnvilInstance } from '../src/chain/index.js'
import { startW3aProcess, w3aJsonAsync, type W3aProcess } from './w3a-up-process.js'
import type { NodeNet, NodePlace } from './node-net.js'

export type GatewayReady = { gatewayUrl: string }
export type WorkerReady = { address: Address; url: string }
export type StorageReady = { address: Address; url: string }
type KeeperView = { keeper?: { keeperSet: { keepers: Address[] }; hasClusterSecret: boolean } }

export type NodeParts = {
  work: string
  anvil: AnvilInstance
  deploymentFile: string
  deployBlock: number
  /** Starts `w3a ARGS --json` (at `place`) and resolves with its ready line; stopped by stop(). */
  start<T>(args: string[], place?: NodePlace): Promise<T>
  gateway(dir: string, host: string, port: number, peers?: string, place?: NodePlace): Promise<GatewayReady>
  /** At `place`: listens on its address. */
  worker(dir: string, gatewayUrl: string, operatorAccount: number, keeper: boolean, place?: NodePlace): Promise<WorkerReady>
  /** At `place`: listens on its address (--host), which it registers as its endpoint. */
  storage(dir: string, gatewayUrl: string, operatorAccount: number, place?: NodePlace): Promise<StorageReady>
  /** Stops every process, then Anvil, then removes the NodeNet's namespaces and the work dir. */
  stop(): Promise<void>
}

export async function startNodeParts(prefix: string, net?: NodeNet): Promise<NodeParts> {
  const work = mkdtempSync(join(tmpdir(), prefix))
  const procs: W3aProcess<unknown>[] = []
  let anvil: AnvilInstance | undefined
  const removeWork = () => rmSync(work, { recursive: true, force: true, maxRetries: 3 })
  // Stopped by a signal or a crash: w3a-up-process.ts kills the processes, this removes their data.
  process.once('exit', removeWork)
  const stop = async () => {
    for (const p of procs.reverse()) await p.stop()
    await anvil?.stop()
    net?.close()
    removeWork()
  }
  const started = async <T>(p: Promise<W3aProcess<T>>): Promise<T> => {
    const running = await p
    procs.push(running as W3aProcess<unknown>)
    return running.ready
  }
  const start = <T>(args: string[], place?: NodePlace) => started(startW3aProcess<T>(args, 120_000, process.env, place?.launcher))
  try {
    anvil = await startAnvil({ port: 0, blockTime: 1, ...(net ? { host: net.hubAddress } : {}) })
    const deployed = await w3aJsonAsync<{ chainId: number; blockNumber: number; deploymentFile: string }>(['deploy', '--chain-rpc', anvil.rpcUrl, '--dev', '--data-dir', join(work, 'deployer')])
    assert.equal(deployed.chainId, anvil.chainId)
    return parts(work, anvil, deployed, start, started, stop)
  } catch (e) {
    await stop()
    throw e
  }
}

function parts(
  work: string,
  anvil: AnvilInstance,
  deployed: { blockNumber: number; deploymentFile: string },
  start: <T>(args: string[], place?: NodePlace) => Promise<T>,
  started: <T>(p: Promise<W3aProcess<T>>) => Promise<T>,
  stop: () => Promise<void>,
): NodeParts {
  return {
    work,
    anvil,
    deploymentFile: deployed.deploymentFile,
    deployBlock: deployed.blockNumber,
    start,
    gateway: (dir, host, port, peers, place) =>
      start<GatewayReady>(['gateway', '--chain-rpc', anvil.rpcUrl, '--data-dir', join(work, dir), '--deployment', deployed.deploymentFile, '--host', host, '--port', String(port), ...(peers ? ['--peers', peers] : [])], place),
    worker: async (dir, gatewayUrl, account, keeper, place) =>
      start<WorkerReady>(['worker', ...(keeper ? ['--keeper'] : []), '--gateway', gatewayUrl, '--data-dir', join(work, dir), '--operator-account', String(account), ...(place ? ['--host', place.address, '--port', String(await place.port())] : [])], place),
    storage: async (dir, gatewayUrl, account, place) =>
      start<StorageReady>(['storage', '--gateway', gatewayUrl, '--data-dir', join(work, dir), '--operator-account', String(account), ...(place ? ['--host', place.address, '--port', String(await place.port())] : [])], place),
    stop,
  }
}

/** Waits until every keeper holds the cluster secret and sees the same set of `count` keepers. */
export async function waitForKeeperSet(keepers: WorkerReady[], count: number): Promise<void> {
  for (let i = 0; ; i++) {
    const views = (await Promise.all(keepers.map(async (w) => (await fetch(`${w.url}/v1/info`)).json()))) as KeeperView[]
    if (views.every((v) => v.keeper?.hasClusterSecret && v.keeper.keeperSet.keepers.length === count)) return
    if (i > 300) throw new Error(`keepers did not form a set of ${count}: ${JSON.stringify(views.map((v) => v.keeper))}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}
