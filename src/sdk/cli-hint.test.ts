import { test } from 'node:test'
import assert from 'node:assert/strict'
import { privateKeyToAccount, generatePrivateKey } from 'viem/accounts'
import { devAccount } from '../chain/portable.js'
import { cliHint } from './cli-hint.js'

test('a suggested command carries --account N for dev account N', () => {
  assert.equal(cliHint('w3a market buy 0xab --credits 1', devAccount(2).address), 'w3a market buy 0xab --credits 1 --account 2')
  assert.equal(cliHint('w3a earnings', devAccount(0).address.toLowerCase() as `0x${string}`), 'w3a earnings --account 0')
})

test('for any other account it says W3A_PRIVATE_KEY must hold its key', () => {
  const me = privateKeyToAccount(generatePrivateKey()).address
  assert.equal(cliHint('w3a earnings', me), `w3a earnings (with W3A_PRIVATE_KEY set to the key of ${me})`)
})
