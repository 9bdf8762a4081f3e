/**
 * The devnet's dev accounts (the public Anvil mnemonic, src/chain/dev-accounts.ts), in their
 * own chunk: only a devnet page that offers them loads the key derivation.
 */
export { devAccount, DEV_ACCOUNT_COUNT } from '../chain/dev-accounts.js'
