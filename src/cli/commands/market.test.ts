import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { GetCreditsReturnType, MarketListing } from '../../sdk/index.js'
import { creditsText, marketLsText } from './market.js'

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

const credits: GetCreditsReturnType = { id: listing.id, analyst: OWNER, credits: 3n, reserved: 1n, escrow: { amount: 6n * 10n ** 18n, formatted: '6', symbol: 'PHA' } }

test('`market credits` shows credits and the ε left, the share cap and the dataset ε left', () => {
  const text = creditsText(credits, {
    available: true,
    keeper: OWNER,
    datasetId: listing.id,
    analyst: OWNER,
    epsilonSpent: 1.5,
    epsilonLeft: 0.5,
    analystEpsilonBudget: 2,
    datasetEpsilonLeft: 3.25,
    grant: { expiresAt: 0n, usesLeft: 4 },
    queryTerms: { defaultEpsilon: 0.1, minEpsilon: 0.05, delta: 1e-7, bounds: { amount: [0, 1000] }, exactQueriesLeft: null },
    asOf: { processed: 7n, stateRoot: `0x${'11'.repeat(32)}` },
  })
  assert.match(text, /credits\s+3\n/)
  assert.match(text, /ε left\s+0\.5\s+\(spent 1\.5; your share 2; dataset ε left 3\.25\)/)
  assert.match(text, /grant\s+4 use\(s\) left, no expiry/)
  assert.match(text, /per query ε 0\.1 by default \(at least 0\.05\), δ 1e-7; no exact answers; bounds amount 0\.\.1000/)
})

test('`market credits` says why the ε is not shown', () => {
  const text = creditsText(credits, { available: false, reason: 'only the analyst can read their ε left' })
  assert.match(text, /ε left\s+\? \(only the analyst/)
})
