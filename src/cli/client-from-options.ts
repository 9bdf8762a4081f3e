import { privateKeyToAccount } from 'viem/accounts'
import type { LocalAccount } from 'viem'
import { W3aError } from '../core/errors.js'
import { DEFAULT_GATEWAY_PORT } from '../core/data-dir.js'
import { devAccount, DEV_ACCOUNT_COUNT } from '../chain/index.js'
import { createW3aClient, type W3aClient } from '../sdk/index.js'
import type { CommandContext } from './command.js'

export function gatewayUrlFrom(values: CommandContext['values']): string {
  const v = values['gateway']
  return typeof v === 'string' && v !== '' ? v : (process.env['W3A_GATEWAY'] ?? `http://127.0.0.1:${DEFAULT_GATEWAY_PORT}`)
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

/**
 * The SDK client a command uses. Dev account keys are public, so `--account N` is refused
 * on a network that does not call itself a dev network.
 */
export async function clientFromOptions(values: CommandContext['values'], opts: { needsAccount?: boolean } = {}): Promise<W3aClient> {
  const acct = accountFrom(values)
  const client = createW3aClient({ gatewayUrl: gatewayUrlFrom(values), ...(acct ? { account: acct.account } : {}) })
  if (opts.needsAccount && !acct) {
    throw new W3aError('ACCOUNT_MISSING', 'this command acts for an account, and none was given', {
      details: ['Pass --account N (a dev account index) or set W3A_PRIVATE_KEY.'],
    })
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
