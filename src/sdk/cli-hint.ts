import { isAddressEqual, type Address } from 'viem'
import { DEV_ACCOUNT_COUNT, devAccount } from '../chain/portable.js'

/**
 * A `w3a …` command to suggest in an error, with the account option it needs: `--account N`
 * when `account` is dev account N, else a reminder that W3A_PRIVATE_KEY must hold its key.
 * Only called on error paths (it derives the dev addresses).
 */
export function cliHint(command: string, account: Address): string {
  return `${command} ${accountOption(account)}`
}

export function accountOption(account: Address): string {
  for (let i = 0; i < DEV_ACCOUNT_COUNT; i++) if (isAddressEqual(devAccount(i).address, account)) return `--account ${i}`
  return `(with W3A_PRIVATE_KEY set to the key of ${account})`
}
