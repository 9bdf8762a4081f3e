import { privateKeyToAccount } from 'viem/accounts'
import type { LocalAccount } from 'viem'
import { W3aError } from '../core/errors.js'
import { devAccount, DEV_ACCOUNT_COUNT } from '../chain/index.js'
import { createW3aClient, type W3aClient } from '../sdk/index.js'
import { GATEWAY_OPTION, allOptions, type Command, type CommandContext } from './command.js'
import { resolveGatewayUrl, type ResolveGatewayUrlReturnType } from './gateway-url.js'

/** `--gateway`, `$W3A_GATEWAY`, the run.json of `--data-dir` / `$W3A_DATA_DIR` / .w3a, or the default port. */
export function gatewayFrom(values: CommandContext['values']): ResolveGatewayUrlReturnType {
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined)
  return resolveGatewayUrl({ flag: str('gateway'), dataDir: str('data-dir') })
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
  const client = createW3aClient({ gatewayUrl: gatewayUrlFrom(values), ...(acct ? { account: acct.account } : {}) })
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
