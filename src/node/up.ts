import { mkdirSync, rmSync } from 'node:fs'
import type { Address } from 'viem'
import { dataDirLayout, DEFAULT_GATEWAY_PORT } from '../core/data-dir.js'
import { acquireLockFile } from '../core/lock-file.js'
import { writeFileAtomic } from '../core/atomic-write.js'
import type { NetworkInfo } from '../core/network-info.js'
import { join } from 'node:path'
import { startAnvil, ensureDeployment, createChainClients, devAccount, allowMeasurement, getRegistryParams, getTcbPolicy, DEV_ACCOUNT_COUNT } from '../chain/index.js'
import { DEV_ATTESTATION_SIGNER, networkConfigHash, networkMeasurement } from '../tee/index.js'
import { measureEnclaveBundle } from '../enclave/bundle.js'
import { spawnPart } from './spawn-part.js'
import { openPartLog } from './part-log.js'
import { openBlockstore } from '../storage/index.js'
import { createGateway } from './gateway.js'
import { createUploadQuota } from './upload-quota.js'
import { serveHttp } from './http-server.js'
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
    mkdirSync(layout.blocksDir, { recursive: true })
    log(`starting chain (anvil, state in ${layout.chainStateFile})`)
    const anvil = await startAnvil({ port: 0, stateFile: layout.chainStateFile, chainId: 31337, silent: true })
    cleanups.push(() => anvil.stop())

    log('deploying contracts (first start) or resuming the saved deployment')
    const deployment = await ensureDeployment({
      rpcUrl: anvil.rpcUrl,
      deploymentFile: layout.deploymentFile,
      fundAccounts: DEV_ACCOUNT_COUNT,
      fundAmount: (params.fundTokens ?? 1_000_000n) * 10n ** 18n,
      devAttestationSigner: DEV_ATTESTATION_SIGNER,
    })

    const blockstore = await openBlockstore(layout.blocksDir)
    const network: NetworkInfo = {
      name: 'w3a-devnet',
      chainId: deployment.chainId,
      rpcUrl: anvil.rpcUrl,
      contracts: {
        token: deployment.token,
        datasetRegistry: deployment.datasetRegistry,
        workerRegistry: deployment.workerRegistry,
        custodyInbox: deployment.custodyInbox,
        market: deployment.market,
        jobs: deployment.jobs,
        campaigns: deployment.campaigns,
      },
      dev: true,
    }
    const { publicClient } = createChainClients({ rpcUrl: anvil.rpcUrl, chainId: deployment.chainId })
    const ingest: { url?: string } = {}
    const quota = createUploadQuota({ file: join(layout.root, 'upload-quota.json'), ...(params.uploadQuotaBytes !== undefined ? { bytesPerAccount: params.uploadQuotaBytes } : {}) })
    const http = await serveHttp(createGateway({ blockstore, network, publicClient, ingest, quota }), {
      port: params.port ?? DEFAULT_GATEWAY_PORT,
    })
    cleanups.push(() => http.close())

    // The devnet's governance (dev account 0) allows this build's worker measurement under the
    // devnet's network config (the one the worker host boots its enclave with: this build's
    // code only, sim allowed), so the keeper started next can register; a modified build or
    // config gets another measurement.
    const [codeMeasurement, { epochLength }, tcb] = await Promise.all([
      measureEnclaveBundle(),
      getRegistryParams(publicClient, { registry: deployment.workerRegistry }),
      getTcbPolicy(publicClient, { registry: deployment.workerRegistry }),
    ])
    const configHash = networkConfigHash({
      chainId: deployment.chainId,
      registry: deployment.workerRegistry,
      inbox: deployment.custodyInbox,
      jobs: deployment.jobs,
      epochLength,
      allowSim: true,
      devAttestationSigner: DEV_ATTESTATION_SIGNER,
      codeMeasurements: [codeMeasurement],
      tcb,
    })
    const measurement = networkMeasurement({ codeMeasurement, configHash })
    await allowMeasurement(createChainClients({ rpcUrl: anvil.rpcUrl, chainId: deployment.chainId, account: devAccount(0) }), {
      registry: deployment.workerRegistry,
      measurement,
    })
    log(`starting keeper worker (simulated TEE, measurement ${measurement.slice(0, 18)}…)`)
    const keeper = await spawnPart<{ address: Address; url: string }>(
      ['worker', '--keeper', '--tee', 'sim', '--gateway', http.url, '--data-dir', join(layout.root, 'worker-0'), '--operator-account', '0'],
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
    savePin(layout.root, await pinNetwork({ name: DEVNET_PIN_NAME, gatewayUrl: http.url, info: network, rpcUrl: anvil.rpcUrl }))

    const run: RunFile = { pid: process.pid, gatewayUrl: http.url, rpcUrl: anvil.rpcUrl, chainId: deployment.chainId, startedAt: new Date().toISOString() }
    writeFileAtomic(layout.runFile, JSON.stringify(run, null, 2))
    cleanups.push(() => rmSync(layout.runFile, { force: true }))

    return {
      dataDir: layout.root,
      gatewayUrl: http.url,
      rpcUrl: anvil.rpcUrl,
      chainId: deployment.chainId,
      contracts: network.contracts,
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
