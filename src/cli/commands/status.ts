import { getStatus } from '../../sdk/index.js'
import { GATEWAY_OPTION, type Command } from '../command.js'
import { clientFromOptions } from '../client-from-options.js'

export const statusCommand: Command = {
  path: ['status'],
  summary: 'Show what is running: gateway, chain id and head, contract addresses',
  options: { ...GATEWAY_OPTION },
  help: 'The gateway is --gateway, else $W3A_GATEWAY, else the one the `w3a up` running in --data-dir wrote to its run.json, else http://127.0.0.1:8787.\nScripts: `w3a status --json` prints {"gatewayUrl": …}.',
  async run({ values, out }) {
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
