import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Address } from 'viem'
import { dataDirLayout, DEFAULT_GATEWAY_PORT } from '../core/data-dir.js'
import { W3aError } from '../core/errors.js'
import { acquireLockFile } from '../core/lock-file.js'
import { writeFileAtomic } from '../core/atomic-write.js'
import type { NetworkInfo } from '../core/network-info.js'
import { startAnvil, ensureDeployment, devAccount, DEV_ACCOUNT_COUNT } from '../chain/index.js'
import { DEV_ATTESTATION_SIGNER } from '../tee/index.js'
import { spawnPart } from './spawn-part.js'
import { openPartLog } from './part-log.js'
import { startGatewayNode } from './gateway-node.js'
import { allowDevBuild } from './allow-dev-build.js'
import { pinNetwork } from '../core/network-pin.js'
import { savePin } from '../core/network-pins-file.js'

/** The name `w3a up` pins its devnet under, in its own data dir. */
export const DEVNET_PIN_NAME = 'devnet'

export type UpParameters = {
  dataDir?: string
  /** Gateway port; 0 picks a free one. */
  port?: number
  /** Tokens minted to each dev account on first deploy, in whole tokens. */
  fundTokens?: bigint
  /** Bytes each account may upload to the devnet's storage node (default DEFAULT_UPLOAD_QUOTA_BYTES). */
  uploadQuotaBytes?: number
  /**
   * Join this chain instead of starting Anvil: the contracts are deployed there on first start (or
   * the data dir's deployment is reused), and it must be a dev network (sim workers).
   */
  chainRpc?: string
  /** Progress lines for the person watching (never secrets). */
  log?: (line: string) => void
}

export type RunningDevnet = {
  dataDir: string
  gatewayUrl: string
  rpcUrl: string
  chainId: number
  contracts: NetworkInfo['contracts']
  workers: { address: Address; url: string; roles: string[] }[]
  /** Each part's log file (`up`, `worker-0`), kept in the data dir. */
  logs: Record<string, string>
  accounts: { index: number; address: Address }[]
  /** Stops the gateway, then Anvil (which dumps its state), then frees the data directory. */
  stop(): Promise<void>
}

/** The run file read by `w3a status` and tests: where the running devnet can be reached. */
export type RunFile = { pid: number; gatewayUrl: string; rpcUrl: string; chainId: number; startedAt: string }

/**
 * `w3a up`: one machine, one data directory, everything started (DESIGN §4). Parts are
 * started in dependency order and, if any fails, those already started are stopped again.
 */
export async function startDevnet(params: UpParameters = {}): Promise<RunningDevnet> {
  const layout = dataDirLayout(params.dataDir)
  mkdirSync(layout.root, { recursive: true, mode: 0o700 })
  const lock = acquireLockFile(layout.lockFile, `data directory ${layout.root}`)
  // Every part's lines also go to its own file: a failure's cause is never only on a closed terminal.
  const upLog = openPartLog(layout.logsDir, 'up')
  const workerLog = openPartLog(layout.logsDir, 'worker-0')
  const log = (line: string) => {
    upLog.write(line)
    params.log?.(line)
  }
  const cleanups: (() => Promise<void> | void)[] = [() => lock.release(), () => upLog.close(), () => workerLog.close()]
  const stopAll = async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  }
  try {
    let rpcUrl = params.chainRpc
    if (rpcUrl === undefined) {
      log(`starting chain (anvil, state in ${layout.chainStateFile})`)
      const anvil = await startAnvil({ port: 0, stateFile: layout.chainStateFile, chainId: 31337, silent: true })
      cleanups.push(() => anvil.stop())
      rpcUrl = anvil.rpcUrl
    } else log(`joining the chain at ${rpcUrl}`)

    log('deploying contracts (first start) or resuming the saved deployment')
    const deployment = await ensureDeployment({
      rpcUrl,
      deploymentFile: layout.deploymentFile,
      fundAccounts: DEV_ACCOUNT_COUNT,
      fundAmount: (params.fundTokens ?? 1_000_000n) * 10n ** 18n,
      devAttestationSigner: DEV_ATTESTATION_SIGNER,
    })
    if (deployment.dev === false) {
      throw new W3aError('INVALID_ARGUMENT', `the network deployed at ${rpcUrl} does not accept the simulated TEE; w3a up runs sim workers`, {
        details: ['run `w3a gateway` and `w3a worker --tee tdx` against it instead (docs/operator.md)'],
      })
    }

    const ingest: { url?: string } = {}
    const gateway = await startGatewayNode({ dataDir: layout.root, rpcUrl, deployment, name: 'w3a-devnet', port: params.port ?? DEFAULT_GATEWAY_PORT, ingest, ...(params.uploadQuotaBytes !== undefined ? { uploadQuotaBytes: params.uploadQuotaBytes } : {}) })
    cleanups.push(() => gateway.close())

    // The devnet's governance (dev account 0) allows this build's worker measurement, so the keeper started next can register.
    const measurement = await allowDevBuild({ rpcUrl, deployment, governance: devAccount(0) })
    log(`starting keeper worker (simulated TEE, measurement ${measurement.slice(0, 18)}…)`)
    const keeper = await spawnPart<{ address: Address; url: string }>(
      ['worker', '--keeper', '--tee', 'sim', '--gateway', gateway.url, '--data-dir', join(layout.root, 'worker-0'), '--operator-account', '0'],
      {
        log: (line) => {
          workerLog.write(line)
          params.log?.(line)
        },
      },
    )
    cleanups.push(() => keeper.stop())
    // On the devnet the keeper worker also plays the web-analytics ingest role (docs/site-owner.md).
    ingest.url = keeper.ready.url

    // The CLI of this data dir trusts this devnet: `w3a up` made it, so it pins it (chain id,
    // contracts, their code hashes, its own RPC); commands then refuse a gateway that says otherwise.
    savePin(layout.root, await pinNetwork({ name: DEVNET_PIN_NAME, gatewayUrl: gateway.url, info: gateway.network, rpcUrl }))

    const run: RunFile = { pid: process.pid, gatewayUrl: gateway.url, rpcUrl, chainId: deployment.chainId, startedAt: new Date().toISOString() }
    writeFileAtomic(layout.runFile, JSON.stringify(run, null, 2))
    cleanups.push(() => rmSync(layout.runFile, { force: true }))

    return {
      dataDir: layout.root,
      gatewayUrl: gateway.url,
      rpcUrl,
      chainId: deployment.chainId,
      contracts: gateway.network.contracts,
      workers: [{ address: keeper.ready.address, url: keeper.ready.url, roles: ['compute', 'keeper'] }],
      logs: { up: upLog.path, 'worker-0': workerLog.path },
      accounts: Array.from({ length: DEV_ACCOUNT_COUNT }, (_, index) => ({ index, address: devAccount(index).address })),
      stop: stopAll,
    }
  } catch (e) {
    await stopAll()
    throw e
  }
}
