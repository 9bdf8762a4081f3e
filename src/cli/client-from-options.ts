import { privateKeyToAccount } from 'viem/accounts'
import type { LocalAccount } from 'viem'
import { W3aError } from '../core/errors.js'
import { devAccount, DEV_ACCOUNT_COUNT } from '../chain/index.js'
import { createW3aClient, type W3aClient } from '../sdk/index.js'
import { dataDirLayout, DEFAULT_DATA_DIR } from '../core/data-dir.js'
import type { PinnedNetwork } from '../core/network-pin.js'
import { pinForGateway, readPins } from '../core/network-pins-file.js'
import { GATEWAY_OPTION, allOptions, type Command, type CommandContext } from './command.js'
import { resolveGatewayUrl, type ResolveGatewayUrlReturnType } from './gateway-url.js'

const str = (values: CommandContext['values'], k: string) => (typeof values[k] === 'string' && values[k] !== '' ? (values[k] as string) : undefined)

/** The data dir whose `networks.json` holds this CLI's pinned networks. */
export function pinsDirFrom(values: CommandContext['values']): string {
  return str(values, 'data-dir') ?? str(process.env, 'W3A_DATA_DIR') ?? DEFAULT_DATA_DIR
}

/** The pin `--network NAME` names, or NETWORK_NOT_PINNED listing the pins there are. */
function namedPin(values: CommandContext['values'], name: string): PinnedNetwork {
  const dir = pinsDirFrom(values)
  const pins = readPins(dir)
  const pin = pins[name]
  if (!pin) {
    throw new W3aError('NETWORK_NOT_PINNED', `no network named "${name}" is pinned in ${dataDirLayout(dir).networksFile}`, {
      details: [`Pinned there: ${Object.keys(pins).join(', ') || '(none)'}. Pin it: w3a network add ${name} --gateway URL`],
    })
  }
  return pin
}

/**
 * `--gateway`, `$W3A_GATEWAY`, the gateway of the pinned network `--network NAME`, the run.json
 * of `--data-dir` / `$W3A_DATA_DIR` / .w3a, or the default port.
 */
export function gatewayFrom(values: CommandContext['values']): ResolveGatewayUrlReturnType {
  const network = str(values, 'network')
  if (network !== undefined && str(values, 'gateway') === undefined && str(process.env, 'W3A_GATEWAY') === undefined) {
    const url = namedPin(values, network).gatewayUrl
    return { url, source: 'flag', note: `using gateway ${url} (of pinned network ${network})` }
  }
  return resolveGatewayUrl({ flag: str(values, 'gateway'), dataDir: str(values, 'data-dir') })
}

export function gatewayUrlFrom(values: CommandContext['values']): string {
  return gatewayFrom(values).url
}

/**
 * For a command that takes GATEWAY_OPTION: the gateway it will use, pinned in `values` (so
 * later calls agree), and a note for people when it is not the one typed nor the default.
 * A command whose `--data-dir` means something else (`w3a worker`) looks in $W3A_DATA_DIR / .w3a.
 */
export function pinGateway(cmd: Command, values: CommandContext['values']): ResolveGatewayUrlReturnType | undefined {
  const options = allOptions(cmd)
  if (options['gateway'] === undefined) return undefined
  const ownDataDir = options['data-dir'] !== undefined && options['data-dir'] !== GATEWAY_OPTION['data-dir']
  const g = gatewayFrom(ownDataDir ? { ...values, 'data-dir': undefined } : values)
  values['gateway'] = g.url
  return g
}

function accountFrom(values: CommandContext['values']): { account: LocalAccount; dev: boolean } | undefined {
  const index = values['account']
  if (typeof index === 'string') {
    const n = Number(index)
    if (!Number.isInteger(n) || n < 0 || n >= DEV_ACCOUNT_COUNT) {
      throw new W3aError('INVALID_ARGUMENT', `--account must be a dev account index from 0 to ${DEV_ACCOUNT_COUNT - 1}, got "${index}"`)
    }
    return { account: devAccount(n), dev: true }
  }
  const key = process.env['W3A_PRIVATE_KEY']
  if (key !== undefined && key !== '') {
    const hex = (key.startsWith('0x') ? key : `0x${key}`) as `0x${string}`
    if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) {
      // Never echo the value: it is a secret.
      throw new W3aError('INVALID_ARGUMENT', 'W3A_PRIVATE_KEY is not a 32-byte hex private key')
    }
    return { account: privateKeyToAccount(hex), dev: false }
  }
  return undefined
}

export type ClientFromOptionsParameters = {
  /** True, or what needs the account (e.g. `--mine`), named in the error when none is given. */
  needsAccount?: boolean | string
  /** Default true: the network must be pinned. A worker host (an operator) checks its chain in its enclave instead. */
  pinned?: boolean
}

/**
 * The pinned network for this gateway (`--network NAME`, else the pin made from that gateway
 * URL), or undefined. The CLI never takes a gateway's word for the chain and contracts.
 */
function pinFor(values: CommandContext['values'], gatewayUrl: string): PinnedNetwork | undefined {
  const name = str(values, 'network')
  return name !== undefined ? namedPin(values, name) : pinForGateway(pinsDirFrom(values), gatewayUrl)
}

function notPinned(values: CommandContext['values'], gatewayUrl: string): W3aError {
  const dir = pinsDirFrom(values)
  const dirFlag = str(values, 'data-dir') !== undefined ? ` --data-dir ${dir}` : ''
  return new W3aError('NETWORK_NOT_PINNED', `no pinned network for gateway ${gatewayUrl} (in ${dataDirLayout(dir).networksFile})`, {
    details: [
      `Pin it once, after checking its chain id and contracts: w3a network add NAME --gateway ${gatewayUrl}${dirFlag}`,
      'A devnet started with `w3a up` pins itself in its own data dir: run commands with --data-dir DIR (or W3A_DATA_DIR=DIR) of that `w3a up`.',
      '`w3a network ls` lists the pinned networks.',
    ],
  })
}

/**
 * The SDK client a command uses. Dev account keys are public, so `--account N` is refused
 * on a network that does not call itself a dev network.
 */
export async function clientFromOptions(values: CommandContext['values'], opts: ClientFromOptionsParameters = {}): Promise<W3aClient> {
  const acct = accountFrom(values)
  if (opts.needsAccount && !acct) {
    const what = typeof opts.needsAccount === 'string' ? opts.needsAccount : 'this command'
    throw new W3aError('ACCOUNT_MISSING', `${what} needs an account: pass --account N or set W3A_PRIVATE_KEY`, {
      details: [`--account N picks dev account N (0-${DEV_ACCOUNT_COUNT - 1}, dev networks only; \`w3a up\` lists them); W3A_PRIVATE_KEY is your own key (0x + 64 hex).`],
    })
  }
  const gatewayUrl = gatewayUrlFrom(values)
  const pin = opts.pinned === false ? undefined : pinFor(values, gatewayUrl)
  const base = createW3aClient({ gatewayUrl, ...(acct ? { account: acct.account } : {}), ...(pin ? { network: pin } : {}) })
  const client: W3aClient =
    pin || opts.pinned === false
      ? base
      : {
          ...base,
          // Reach the gateway first (an unreachable one says so), then refuse its unpinned word.
          network: async () => {
            await base.gateway.getJson('/api/v1/network')
            throw notPinned(values, base.gateway.url)
          },
        }
  if (acct?.dev) {
    const network = await client.network()
    if (!network.dev) {
      throw new W3aError('INVALID_ARGUMENT', `--account uses public dev keys, and ${network.name} is not a dev network`, {
        details: ['Set W3A_PRIVATE_KEY to your own key instead.'],
      })
    }
  }
  return client
}
