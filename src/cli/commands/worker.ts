import { hexToBytes } from 'viem'
import { W3aError, isW3aError } from '../../core/errors.js'
import { listWorkers, createChainClients, type WorkerInfo } from '../../chain/index.js'
import { fetchRegisteredQuote, networkTeePolicy } from '../../sdk/worker-attestation.js'
import { describeTee, verifyWorkerQuote, type TeePolicy } from '../../tee/index.js'
import { readJsonFile } from '../read-json-file.js'
import { roleAccount } from '../role-account.js'
import { startWorker } from '../../node/worker/worker-host.js'
import { GATEWAY_OPTION, type Command } from '../command.js'
import { clientFromOptions } from '../client-from-options.js'
import { table } from '../output.js'

export const workerCommand: Command = {
  path: ['worker'],
  summary: 'Run one TEE worker (compute, and with --keeper also custody) until Ctrl-C',
  options: {
    keeper: { type: 'boolean', description: 'also hold the cluster key and replay the custody inbox' },
    tee: { type: 'string', placeholder: 'sim|tdx', description: 'TEE backend (default sim; sim is accepted only by dev networks)' },
    'chain-rpc': { type: 'string', placeholder: 'URL', description: "chain RPC URL (default: the gateway's)" },
    port: { type: 'string', placeholder: 'N', description: 'HTTP port of the worker endpoint (default: any free port)' },
    host: { type: 'string', placeholder: 'ADDR', description: 'listen address of the worker endpoint (default 127.0.0.1)' },
    'public-url': { type: 'string', placeholder: 'URL', description: 'URL others reach this worker at (default: its listening URL)' },
    storage: { type: 'string', placeholder: 'URL', description: "trustless gateway the worker fetches analyses and dataset blocks from (default: the gateway's /ipfs)" },
    'operator-account': { type: 'string', placeholder: 'N', description: 'dev account that stakes for the worker (dev networks); else $W3A_OPERATOR_KEY' },
    'ingest-flush': { type: 'string', placeholder: 'SECONDS', description: "how often web-analytics rows are appended to their sites' datasets (default 10, or $W3A_INGEST_FLUSH_MS)" },
    ...GATEWAY_OPTION,
    // Not the devnet's data dir: the gateway is found through $W3A_DATA_DIR / .w3a instead.
    'data-dir': { type: 'string', placeholder: 'DIR', description: 'where the worker keeps its sealed state (default .w3a/worker)' },
  },
  async run({ values, out }) {
    const tee = (values['tee'] as string | undefined) ?? 'sim'
    if (tee !== 'sim' && tee !== 'tdx') throw new W3aError('INVALID_ARGUMENT', `--tee must be sim or tdx, got "${tee}"`)
    const flush = values['ingest-flush'] !== undefined ? Number(values['ingest-flush']) * 1000 : process.env['W3A_INGEST_FLUSH_MS'] !== undefined ? Number(process.env['W3A_INGEST_FLUSH_MS']) : undefined
    if (flush !== undefined && !(Number.isFinite(flush) && flush >= 100)) throw new W3aError('INVALID_ARGUMENT', '--ingest-flush must be a number of seconds of at least 0.1')
    // An operator's host: its enclave checks the chain it serves against its network config itself.
    const client = await clientFromOptions({ ...values, 'data-dir': undefined }, { pinned: false })
    const network = await client.network()
    const worker = await startWorker({
      dataDir: (values['data-dir'] as string | undefined) ?? '.w3a/worker',
      tee,
      keeper: values['keeper'] === true,
      rpcUrl: (values['chain-rpc'] as string | undefined) ?? network.rpcUrl,
      gatewayUrl: (values['storage'] as string | undefined) ?? client.gateway.url,
      contracts: { chainId: network.chainId, ...network.contracts },
      operator: roleAccount({ index: values['operator-account'], option: 'operator-account', envVar: 'W3A_OPERATOR_KEY', dev: network.dev, why: 'a worker needs an operator account that stakes for it' }),
      dev: network.dev,
      ...(values['port'] ? { port: Number(values['port']) } : {}),
      ...(typeof values['host'] === 'string' ? { host: values['host'] } : {}),
      ...(values['public-url'] ? { publicUrl: values['public-url'] as string } : {}),
      ...(flush !== undefined ? { ingestFlushMs: flush } : {}),
      log: (l) => out.info(l),
    })
    out.result({ ready: true, address: worker.address, url: worker.url, teeType: worker.info.teeType, measurement: worker.info.measurement }, `W3A worker ready  ${worker.address}  ${worker.url}`)
    await new Promise<void>((resolve) => {
      const stop = () => void worker.stop().then(resolve)
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
  },
}

export const workersLsCommand: Command = {
  path: ['workers', 'ls'],
  summary: 'List registered TEE workers: address, TEE type and TCB status, measurement, roles, stake, status, last heartbeat',
  options: {
    ...GATEWAY_OPTION,
    collateral: { type: 'string', placeholder: 'FILE', description: "DCAP collateral JSON: verify tdx/sgx workers' quotes to show their TCB status under the network's policy" },
  },
  help: [
    "TEE column: sim workers show 'sim (dev)'. A tdx/sgx worker's TCB status comes from its quote, verified",
    "under the registry's TCB policy: with --collateral it shows e.g. 'tdx UpToDate' or 'tdx refused: TCB_NOT_ALLOWED';",
    "without, 'tdx (unchecked)'.",
  ].join('\n'),
  async run({ values, out }) {
    const client = await clientFromOptions(values)
    const network = await client.network()
    const { publicClient } = createChainClients({ rpcUrl: network.rpcUrl, chainId: network.chainId })
    const workers = await listWorkers(publicClient, { registry: network.contracts.workerRegistry })
    const collateralFile = values['collateral']
    const policy = await networkTeePolicy(publicClient, network.contracts.workerRegistry, typeof collateralFile === 'string' ? { collateral: readJsonFile(collateralFile) } : {})
    const tees = await Promise.all(workers.map((w) => teeOf(w, policy, network.chainId, network.contracts.workerRegistry)))
    out.result(
      { workers: workers.map((w, i) => ({ ...w, tee: tees[i] })) },
      table(
        workers.map((w, i) => ({
          address: w.address,
          tee: tees[i]!,
          measurement: `${w.measurement.slice(0, 12)}…`,
          roles: w.roles.join(','),
          stake: `${Number(w.stake / 10n ** 15n) / 1000} PHA`,
          status: w.status,
          heartbeat: w.lastHeartbeat ? new Date(w.lastHeartbeat * 1000).toISOString() : '-',
        })),
        ['address', 'tee', 'measurement', 'roles', 'stake', 'status', 'heartbeat'],
      ),
    )
  },
}

/** `sim (dev)`; for tdx/sgx, the TCB status of its registered quote under the network's policy (when collateral is given). */
async function teeOf(w: WorkerInfo, policy: TeePolicy, chainId: number, registry: `0x${string}`): Promise<string> {
  if (w.teeType === 'sim' || policy.collateral === undefined) return describeTee(w.teeType)
  try {
    const quote = await fetchRegisteredQuote(w)
    const v = await verifyWorkerQuote(quote, policy, { worker: w.address, hpkePublicKey: hexToBytes(w.hpkePublicKey), chainId, registry, registeredAt: w.registeredAt })
    return describeTee(v.teeType, v.tcbStatus)
  } catch (e) {
    return `${w.teeType} ${isW3aError(e, 'WORKER_UNREACHABLE') ? '(unreachable)' : `refused: ${isW3aError(e) ? e.code : 'error'}`}`
  }
}
