import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { MarketListing } from '../../sdk/index.js'
import { marketLsText } from './market.js'

const OWNER = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8'
const listing: MarketListing = {
  id: `0x${'ab'.repeat(32)}`,
  name: 'visits',
  owner: OWNER,
  status: 'active',
  price: { amount: 2n * 10n ** 18n, formatted: '2', symbol: 'PHA' },
  policySummary: 'k=10; ε budget 5',
  manifestCid: 'bafy',
  schemaHash: `0x${'00'.repeat(32)}`,
  rows: 120,
}

test('`market ls` shows the owner of each dataset', () => {
  const [header, row] = marketLsText([listing]).split('\n')
  assert.match(header!, /\bOWNER\b/)
  assert.ok(row!.includes(OWNER), row)
  assert.match(row!, /2 PHA/)
})
