import { W3aError } from '../../core/errors.js'
import { dataDirLayout } from '../../core/data-dir.js'
import { CONTRACT_NAMES, pinNetwork, type PinnedNetwork } from '../../core/network-pin.js'
import { checkNetworkName, readPins, removePin, savePin } from '../../core/network-pins-file.js'
import { DEVNET_PIN_NAME } from '../../node/up.js'
import { createW3aClient } from '../../sdk/index.js'
import { GATEWAY_OPTION, type Command } from '../command.js'
import { gatewayUrlFrom, pinsDirFrom } from '../client-from-options.js'

const DIR_OPTION = { 'data-dir': GATEWAY_OPTION['data-dir']! }

function describe(pin: PinnedNetwork): string[] {
  return [
    `${pin.name}  chain id ${pin.chainId}${pin.dev ? ' (dev network)' : ''}  gateway ${pin.gatewayUrl}${pin.rpcUrl ? `  rpc ${pin.rpcUrl}` : ''}`,
    ...CONTRACT_NAMES.map((n) => `  ${n.padEnd(16)} ${pin.contracts[n]}  code ${pin.codeHashes[n].slice(0, 18)}…`),
  ]
}

export const networkAddCommand: Command = {
  path: ['network', 'add'],
  summary: 'Pin a network: its chain id, contract addresses and their code, as a gateway names them now',
  args: [{ name: 'NAME', description: 'a name for it (lower-case letters, digits, . _ -)' }],
  options: {
    ...GATEWAY_OPTION,
    rpc: { type: 'string', placeholder: 'URL', description: "a chain RPC you trust, used instead of the gateway's from now on" },
    from: { type: 'string', placeholder: 'DIR', description: 'copy the devnet that the `w3a up` of data dir DIR pinned, instead of asking a gateway' },
  },
  help: [
    'Trust on first use: commands then refuse a gateway whose chain id or contracts differ from the pin, or whose',
    'chain holds other code at those addresses (NETWORK_MISMATCH). Check what this prints against the values the',
    "network publishes. A devnet started with `w3a up` is pinned in its own data dir already (as \"devnet\").",
    'Example: w3a network add testnet --gateway https://gw.example.org',
  ].join('\n'),
  async run({ values, positionals, out }) {
    const name = checkNetworkName(positionals[0] ?? '')
    const dir = pinsDirFrom(values)
    let pin: PinnedNetwork
    if (typeof values['from'] === 'string') {
      const theirs = readPins(values['from'])[DEVNET_PIN_NAME]
      if (!theirs) {
        throw new W3aError('NETWORK_NOT_PINNED', `${dataDirLayout(values['from']).networksFile} holds no devnet pin`, { details: ['Start `w3a up --data-dir DIR` once: it pins its devnet there.'] })
      }
      pin = { ...theirs, name, pinnedAt: new Date().toISOString() }
    } else {
      const gatewayUrl = gatewayUrlFrom(values)
      const info = await createW3aClient({ gatewayUrl }).network()
      pin = await pinNetwork({ name, gatewayUrl, info, ...(typeof values['rpc'] === 'string' ? { rpcUrl: values['rpc'] } : {}) })
    }
    const old = readPins(dir)[name]
    if (old && (old.chainId !== pin.chainId || CONTRACT_NAMES.some((n) => old.codeHashes[n] !== pin.codeHashes[n] || old.contracts[n].toLowerCase() !== pin.contracts[n].toLowerCase()))) {
      throw new W3aError('NETWORK_MISMATCH', `network "${name}" is pinned already, with another chain or other contracts`, {
        details: [`Nothing changed. If it was really redeployed: w3a network remove ${name}, then add it again.`],
      })
    }
    savePin(dir, pin)
    out.result({ pinned: pin, file: dataDirLayout(dir).networksFile }, [`pinned ${name} in ${dataDirLayout(dir).networksFile}`, ...describe(pin), 'Check these against the values the network publishes.'].join('\n'))
  },
}

export const networkLsCommand: Command = {
  path: ['network', 'ls'],
  summary: 'List the pinned networks',
  options: { ...DIR_OPTION },
  async run({ values, out }) {
    const pins = Object.values(readPins(pinsDirFrom(values)))
    out.result({ networks: pins }, pins.length === 0 ? 'no network pinned (w3a network add NAME --gateway URL)' : pins.flatMap(describe).join('\n'))
  },
}

export const networkRemoveCommand: Command = {
  path: ['network', 'remove'],
  summary: 'Forget a pinned network',
  args: [{ name: 'NAME', description: 'as `w3a network ls` shows it' }],
  options: { ...DIR_OPTION },
  async run({ values, positionals, out }) {
    const name = positionals[0] ?? ''
    if (!removePin(pinsDirFrom(values), name)) throw new W3aError('INVALID_ARGUMENT', `no network named "${name}" is pinned`, { details: ['`w3a network ls` lists them.'] })
    out.result({ removed: name }, `removed ${name}`)
  },
}
