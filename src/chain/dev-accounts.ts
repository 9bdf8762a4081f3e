import { mnemonicToAccount, type HDAccount } from 'viem/accounts'
import { W3aError } from '../core/errors.js'

/*
 * !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
 * DEV NETWORKS ONLY. This is the well-known anvil/hardhat mnemonic: its private keys are PUBLIC,
 * printed in every Ethereum tutorial and watched by sweeper bots on every real chain. Anything
 * sent to these addresses on a real network is stolen within seconds. Never use them outside a
 * local dev chain (anvil started by `w3a up` or by tests).
 * !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
 */
export const DEV_MNEMONIC = 'test test test test test test test test test test test junk'

/** Accounts anvil funds with ETH by default (`--accounts 10`). */
export const DEV_ACCOUNT_COUNT = 10

/** Dev account `index` (BIP-44 path m/44'/60'/0'/0/index) of the public dev mnemonic. */
export function devAccount(index: number, mnemonic: string = DEV_MNEMONIC): HDAccount {
  if (!Number.isInteger(index) || index < 0) throw new W3aError('INVALID_ARGUMENT', `dev account index must be a non-negative integer, got ${index}`)
  return mnemonicToAccount(mnemonic, { addressIndex: index })
}
