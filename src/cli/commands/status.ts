import { readFileSync } from 'node:fs'
import { dataDirLayout, DEFAULT_DATA_DIR } from '../../core/data-dir.js'
import { getStatus } from '../../sdk/index.js'
import { GATEWAY_OPTION, type Command } from '../command.js'
import { clientFromOptions } from '../client-from-options.js'

export const statusCommand: Command = {
  path: ['status'],
  summary: 'Show what is running: gateway, chain id and head, contract addresses',
  options: {
    ...GATEWAY_OPTION,
    'data-dir': { type: 'string', placeholder: 'DIR', description: `read the gateway URL of the devnet running in DIR (default ${DEFAULT_DATA_DIR})` },
  },
  async run({ values, out }) {
    // Without --gateway, prefer the URL the local `w3a up` wrote into its data dir.
    if (values['gateway'] === undefined && process.env['W3A_GATEWAY'] === undefined) {
      try {
        const run = JSON.parse(readFileSync(dataDirLayout(values['data-dir'] as string | undefined).runFile, 'utf8')) as { gatewayUrl?: string }
        if (run.gatewayUrl) values['gateway'] = run.gatewayUrl
      } catch {
        /* no local devnet: fall back to the default URL */
      }
    }
    const client = await clientFromOptions(values)
    const s = await getStatus(client)
    const text = [
      `gateway    ${client.gateway.url}  (up ${s.gateway.uptimeSeconds}s)`,
      `network    ${s.network}`,
      `chain      ${s.chain.rpcUrl}  chain id ${s.chain.chainId}  ${s.chain.reachable ? `block ${s.chain.blockNumber}` : 'NOT REACHABLE'}`,
      ...Object.entries(s.contracts).map(([k, v]) => `contract   ${k.padEnd(16)} ${v}`),
      `storage    ${s.storage.node} node, trustless gateway at ${client.gateway.url}${s.storage.trustlessGateway}`,
    ].join('\n')
    out.result({ gatewayUrl: client.gateway.url, ...s }, text)
  },
}
