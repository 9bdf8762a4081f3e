/**
 * Shared setup of the tests that run every part as its own process (multi-node, storage mining):
 * a work dir, Anvil with real 1 s blocks, the contracts put there by `w3a deploy --dev`, and
 * `w3a gateway` / `w3a worker` / `w3a storage` processes started with --json, each with its own
 * data dir, all stopped (newest first) by `stop()`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import assert from 'node:assert/strict'
import type { Address } from 'viem'
import { startAnvil, type AnvilInstance } from '../src/chain/index.js'
import { startW3aProcess, w3aJsonAsync, type W3aProcess } from './w3a-up-process.js'

export type GatewayReady = { gatewayUrl: string }
export type WorkerReady = { address: Address; url: string }
type KeeperView = { keeper?: { keeperSet: { keepers: Address[] }; hasClusterSecret: boolean } }

export type NodeParts = {
  work: string
  anvil: AnvilInstance
  deploymentFile: string
  deployBlock: number
  /** Starts `w3a ARGS --json` and resolves with its ready line; stopped by stop(). */
  start<T>(args: string[]): Promise<T>
  gateway(dir: string, host: string, port: number, peers?: string): Promise<GatewayReady>
  worker(dir: string, gatewayUrl: string, operatorAccount: number, keeper: boolean): Promise<WorkerReady>
  stop(): Promise<void>
}

export async function startNodeParts(prefix: string): Promise<NodeParts> {
  const work = mkdtempSync(join(tmpdir(), prefix))
  const anvil = await startAnvil({ port: 0, blockTime: 1 })
  const procs: W3aProcess<unknown>[] = []
  const deployed = await w3aJsonAsync<{ chainId: number; blockNumber: number; deploymentFile: string }>(['deploy', '--chain-rpc', anvil.rpcUrl, '--dev', '--data-dir', join(work, 'deployer')])
  assert.equal(deployed.chainId, anvil.chainId)
  const start = async <T>(args: string[]): Promise<T> => {
    const p = await startW3aProcess<T>(args, 120_000)
    procs.push(p as W3aProcess<unknown>)
    return p.ready
  }
  return {
    work,
    anvil,
    deploymentFile: deployed.deploymentFile,
    deployBlock: deployed.blockNumber,
    start,
    gateway: (dir, host, port, peers) =>
      start<GatewayReady>(['gateway', '--chain-rpc', anvil.rpcUrl, '--data-dir', join(work, dir), '--deployment', deployed.deploymentFile, '--host', host, '--port', String(port), ...(peers ? ['--peers', peers] : [])]),
    worker: (dir, gatewayUrl, account, keeper) =>
      start<WorkerReady>(['worker', ...(keeper ? ['--keeper'] : []), '--gateway', gatewayUrl, '--data-dir', join(work, dir), '--operator-account', String(account)]),
    async stop() {
      for (const p of procs.reverse()) await p.stop()
      await anvil.stop()
      rmSync(work, { recursive: true, force: true })
    },
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
