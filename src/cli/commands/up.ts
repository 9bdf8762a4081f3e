import { W3aError } from '../../core/errors.js'
import { dataDirLayout, DEFAULT_DATA_DIR, DEFAULT_GATEWAY_PORT } from '../../core/data-dir.js'
import { startDevnet, DEVNET_PIN_NAME } from '../../node/up.js'
import { DEFAULT_UPLOAD_QUOTA_BYTES } from '../../node/upload-quota.js'
import type { Command } from '../command.js'

export const upCommand: Command = {
  path: ['up'],
  summary: 'Start a whole local W3A network (chain, contracts, storage node, gateway) and run until Ctrl-C',
  options: {
    'data-dir': { type: 'string', placeholder: 'DIR', description: `where everything is kept (default ${DEFAULT_DATA_DIR})` },
    port: { type: 'string', placeholder: 'N', description: `gateway port (default ${DEFAULT_GATEWAY_PORT}; 0 = any free port)` },
    'upload-quota': { type: 'string', placeholder: 'BYTES', description: `bytes each account may upload to the storage node (default ${DEFAULT_UPLOAD_QUOTA_BYTES})` },
    'chain-rpc': { type: 'string', placeholder: 'URL', description: 'join this dev chain instead of starting Anvil (contracts deployed there on first start, or the data dir’s deployment reused)' },
  },
  help: 'The first start deploys the contracts and funds the dev accounts; later starts resume the same chain.\nExample: npx w3a up --data-dir ./.w3a --port 8787',
  async run({ values, out }) {
    const portRaw = values['port']
    const port = portRaw === undefined ? DEFAULT_GATEWAY_PORT : Number(portRaw)
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new W3aError('INVALID_ARGUMENT', `--port must be 0..65535, got "${String(portRaw)}"`)
    const quotaRaw = values['upload-quota']
    const uploadQuotaBytes = quotaRaw === undefined ? undefined : Number(quotaRaw)
    if (uploadQuotaBytes !== undefined && (!Number.isSafeInteger(uploadQuotaBytes) || uploadQuotaBytes < 0)) {
      throw new W3aError('INVALID_ARGUMENT', `--upload-quota must be a number of bytes, got "${String(quotaRaw)}"`)
    }
    const devnet = await startDevnet({
      ...(uploadQuotaBytes !== undefined ? { uploadQuotaBytes } : {}),
      ...(typeof values['data-dir'] === 'string' ? { dataDir: values['data-dir'] } : {}),
      ...(typeof values['chain-rpc'] === 'string' ? { chainRpc: values['chain-rpc'] } : {}),
      port,
      log: (line) => out.progress(line),
    })
    let stopping: Promise<void> | undefined
    const stop = (signal: string) => {
      stopping ??= (async () => {
        out.info(`${signal}: stopping (gateway, then chain, saving state)...`)
        await devnet.stop()
        out.info('stopped cleanly')
      })()
      return stopping
    }
    const done = new Promise<void>((resolve) => {
      process.once('SIGINT', () => void stop('SIGINT').then(resolve))
      process.once('SIGTERM', () => void stop('SIGTERM').then(resolve))
    })
    const data = {
      ready: true,
      dataDir: devnet.dataDir,
      dashboardUrl: `${devnet.gatewayUrl}/`,
      gatewayUrl: devnet.gatewayUrl,
      rpcUrl: devnet.rpcUrl,
      chainId: devnet.chainId,
      contracts: devnet.contracts,
      workers: devnet.workers,
      accounts: devnet.accounts,
      logs: devnet.logs,
      network: { name: DEVNET_PIN_NAME, file: dataDirLayout(devnet.dataDir).networksFile },
    }
    const text = [
      `W3A devnet ready  dashboard ${devnet.gatewayUrl}/  (open it in a browser)`,
      `  gateway ${devnet.gatewayUrl}  chain ${devnet.rpcUrl} (chain id ${devnet.chainId})  accounts ${devnet.accounts.map((a) => `${a.index}:${a.address}`).join(' ')}`,
      `  data dir   ${devnet.dataDir}`,
      `  logs       ${Object.values(devnet.logs).join('  ')}`,
      `  network    pinned as "${DEVNET_PIN_NAME}" in ${data.network.file}: commands run with this data dir refuse a gateway that names another chain`,
      `  contracts  token ${devnet.contracts.token}  datasets ${devnet.contracts.datasetRegistry}  workers ${devnet.contracts.workerRegistry}  inbox ${devnet.contracts.custodyInbox}`,
      ...devnet.workers.map((w) => `  worker     ${w.address} (${w.roles.join(', ')}, simulated TEE) at ${w.url}`),
      '  dev accounts (public keys, dev only; use --account N):',
      ...devnet.accounts.map((a) => `    ${a.index}  ${a.address}`),
      '  Press Ctrl-C to stop.',
    ].join('\n')
    out.result(data, text)
    await done
  },
}
