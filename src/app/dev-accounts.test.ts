import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex } from 'viem'
import { devAccount as derived, DEV_ACCOUNT_COUNT as FUNDED } from '../chain/dev-accounts.js'
import { devAccount, DEV_ACCOUNT_COUNT, DEV_PRIVATE_KEYS } from './dev-accounts.js'

test("the page's listed dev keys are the public mnemonic's accounts, every one Anvil funds", () => {
  assert.equal(DEV_ACCOUNT_COUNT, FUNDED)
  for (let i = 0; i < FUNDED; i++) {
    assert.equal(DEV_PRIVATE_KEYS[i], bytesToHex(derived(i).getHdKey().privateKey!))
    assert.equal(devAccount(i).address, derived(i).address)
  }
  assert.throws(() => devAccount(FUNDED), /INVALID_ARGUMENT|must be 0 to 9/)
})
