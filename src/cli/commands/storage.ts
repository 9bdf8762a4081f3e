import { W3aError } from '../../core/errors.js'
import { startStorageNode } from '../../node/storage-node.js'
import { roleAccount } from '../role-account.js'
import { GATEWAY_OPTION, type Command } from '../command.js'
import { clientFromOptions } from '../client-from-options.js'

export const storageCommand: Command = {
  path: ['storage'],
  summary: 'Run a storage node (its blockstore, trustless gateway and audited work reports) until Ctrl-C',
  options: {
    ...GATEWAY_OPTION,
    'chain-rpc': { type: 'string', placeholder: 'URL', description: "chain RPC URL (default: the gateway's)" },
    // Not the devnet's data dir: the gateway is found through $W3A_DATA_DIR / .w3a instead.
    'data-dir': { type: 'string', placeholder: 'DIR', description: 'where the node keeps its blocks and sealed enclave state (default .w3a/storage)' },
    endpoint: { type: 'string', placeholder: 'URL', description: 'URL others fetch its blocks at (default: its listening URL)' },
    port: { type: 'string', placeholder: 'N', description: 'HTTP port of its trustless gateway (default: any free port)' },
    host: { type: 'string', placeholder: 'ADDR', description: 'listen address of its trustless gateway (default 127.0.0.1)' },
    capacity: { type: 'string', placeholder: 'BYTES', description: 'bytes it offers to the storage market (default 100 GiB)' },
    'operator-account': { type: 'string', placeholder: 'N', description: 'dev account that stakes for the node and earns (dev networks); else $W3A_OPERATOR_KEY' },
  },
  help: [
    'Registers a sim-TEE worker with the storage role and a StorageMarket node, pins the orders assigned to it',
    '(fetching each block from the other assigned nodes or the gateway and checking it against its CID), posts',
    'one enclave-signed work report per era, challenges the other nodes of its orders, and drops ended orders.',
    'See docs/operator.md "Storage miner".',
  ].join('\n'),
  async run({ values, out }) {
    const capacity = values['capacity'] !== undefined ? String(values['capacity']) : undefined
    if (capacity !== undefined && !/^[1-9][0-9]{0,19}$/.test(capacity)) throw new W3aError('INVALID_ARGUMENT', '--capacity must be a positive number of bytes')
    const client = await clientFromOptions({ ...values, 'data-dir': undefined }, { pinned: false })
    const network = await client.network()
    const node = await startStorageNode({
      dataDir: (values['data-dir'] as string | undefined) ?? '.w3a/storage',
      rpcUrl: (values['chain-rpc'] as string | undefined) ?? network.rpcUrl,
      gatewayUrl: client.gateway.url,
      contracts: { chainId: network.chainId, ...network.contracts },
      operator: roleAccount({ index: values['operator-account'], option: 'operator-account', envVar: 'W3A_OPERATOR_KEY', dev: network.dev, why: 'a storage node needs an operator account that stakes for it' }),
      dev: network.dev,
      ...(capacity !== undefined ? { capacityBytes: BigInt(capacity) } : {}),
      ...(values['port'] ? { port: Number(values['port']) } : {}),
      ...(typeof values['host'] === 'string' ? { host: values['host'] } : {}),
      ...(values['endpoint'] ? { publicUrl: values['endpoint'] as string } : {}),
      log: (l) => out.info(l),
    })
    out.result({ ready: true, address: node.address, url: node.url, teeType: node.info.teeType, measurement: node.info.measurement }, `W3A storage node ready  ${node.address}  ${node.url}`)
    await new Promise<void>((resolve) => {
      const stop = () => void node.stop().then(resolve)
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
  },
}
