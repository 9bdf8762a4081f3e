import { W3aError } from '../../core/errors.js'
import { dataDirLayout, DEFAULT_DATA_DIR, DEFAULT_GATEWAY_PORT } from '../../core/data-dir.js'
import { readDeploymentFile } from '../../chain/index.js'
import { startGatewayNode } from '../../node/gateway-node.js'
import type { Command } from '../command.js'

export const gatewayCommand: Command = {
  path: ['gateway'],
  summary: 'Run a gateway and storage node on its own (its blockstore, the HTTP API, the dashboard) until Ctrl-C',
  options: {
    'chain-rpc': { type: 'string', placeholder: 'URL', description: 'RPC of the chain the network is deployed on (required)' },
    'data-dir': { type: 'string', placeholder: 'DIR', description: `this node's own data dir: its blocks, and chain/deployment.json from \`w3a deploy\` (default ${DEFAULT_DATA_DIR})` },
    deployment: { type: 'string', placeholder: 'FILE', description: 'deployment file to use instead of the data dir’s (copy it from the machine that ran `w3a deploy`)' },
    port: { type: 'string', placeholder: 'N', description: `HTTP port (default ${DEFAULT_GATEWAY_PORT}; 0 = any free port)` },
    host: { type: 'string', placeholder: 'ADDR', description: 'listen address (default 127.0.0.1)' },
    peers: { type: 'string', placeholder: 'URL,URL', description: 'other storage nodes’ trustless gateways, comma-separated: a block not here is fetched from them, checked against its CID, and kept' },
    ingest: { type: 'string', placeholder: 'URL', description: 'the web-analytics ingest worker that tracker events are relayed to' },
  },
  help: 'Example: npx w3a gateway --chain-rpc http://10.0.0.1:8545 --data-dir ./gw --deployment ./net/chain/deployment.json --peers http://10.0.0.3:8787',
  async run({ values, out }) {
    const rpcUrl = values['chain-rpc']
    if (typeof rpcUrl !== 'string') throw new W3aError('INVALID_ARGUMENT', '--chain-rpc URL is required: the chain the network is deployed on')
    const layout = dataDirLayout(values['data-dir'] as string | undefined)
    const file = (values['deployment'] as string | undefined) ?? layout.deploymentFile
    const deployment = readDeploymentFile(file)
    const port = values['port'] === undefined ? DEFAULT_GATEWAY_PORT : Number(values['port'])
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new W3aError('INVALID_ARGUMENT', `--port must be 0..65535, got "${String(values['port'])}"`)
    const peers = typeof values['peers'] === 'string' ? values['peers'].split(',').filter((p) => p !== '') : []
    for (const p of peers) if (!URL.canParse(p)) throw new W3aError('INVALID_ARGUMENT', `--peers must be URLs separated by commas; "${p}" is not a URL`)
    const node = await startGatewayNode({
      dataDir: layout.root,
      rpcUrl,
      deployment,
      port,
      peers: peers.map((p) => (p.endsWith('/') ? p : `${p}/`)),
      ...(typeof values['host'] === 'string' ? { host: values['host'] } : {}),
      ...(typeof values['ingest'] === 'string' ? { ingest: { url: values['ingest'] } } : {}),
    })
    out.result({ ready: true, gatewayUrl: node.url, chainId: deployment.chainId, contracts: node.network.contracts, peers }, `W3A gateway ready  ${node.url}  (chain ${deployment.chainId}, blocks in ${layout.blocksDir}${peers.length ? `, peers ${peers.join(' ')}` : ''})`)
    await new Promise<void>((resolve) => {
      const stop = () => void node.close().then(resolve)
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
  },
}
