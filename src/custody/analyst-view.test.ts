import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { analystView } from './analyst-view.js'
import { parsePolicy, type CustodyPolicyInput } from './policy.js'
import { datasetRecord, getDataset, type CustodyState } from './state.js'
import { Replica, TestInbox, registerCommand, signCommand, testBytes } from './fixture.test.js'

const owner = privateKeyToAccount(bytesToHex(testBytes('av owner')))
const [alice, bob, carol] = ['av alice', 'av bob', 'av carol'].map((l) => privateKeyToAccount(bytesToHex(testBytes(l))).address.toLowerCase() as Address) as [Address, Address, Address]

/** A registered dataset whose record is then given this policy, grants and ledger directly. */
async function stateWith(policy: CustodyPolicyInput, p: { grants?: Address[]; spent?: [Address, number][]; deleted?: boolean } = {}): Promise<{ state: CustodyState; id: Hex }> {
  const inbox = new TestInbox(testBytes('av'))
  const r = registerCommand(owner.address, { salt: bytesToHex(testBytes('av salt')), dek: testBytes('av dek'), nonce: 1n, expiry: inbox.timestamp() + 100_000n })
  await inbox.post(await signCommand(owner, r.command), { dek: testBytes('av dek') })
  const replica = Replica.fromSecret(testBytes('av'))
  for (const e of inbox.entries) await replica.apply(e)
  const rec = getDataset(replica.state, r.datasetId)!
  const perAnalyst = new Map(p.spent ?? [])
  const next = datasetRecord({
    ...rec,
    policy: parsePolicy(policy),
    grants: new Map((p.grants ?? []).map((g) => [g, { expiresAt: 0n, usesLeft: null }])),
    budget: { spent: [...perAnalyst.values()].reduce((a, b) => a + b, 0), perAnalyst },
    deleted: p.deleted ?? false,
  })
  return { state: { ...replica.state, datasets: replica.state.datasets.set(r.datasetId.toLowerCase(), next) }, id: r.datasetId }
}

describe('analystView', () => {
  it('ε left is the smaller of the analyst share left and the dataset ε left', async () => {
    const { state, id } = await stateWith({ epsilonBudget: 5, analystEpsilonBudget: 2 }, { grants: [alice, bob], spent: [[alice, 1.5], [bob, 2]] })
    const a = analystView(state, id, alice)!
    assert.equal(a.epsilonSpent, 1.5)
    assert.equal(a.epsilonLeft, 0.5) // share 2 - 1.5; the dataset has 1.5 left
    assert.equal(a.analystEpsilonBudget, 2)
    assert.equal(a.datasetEpsilonLeft, 1.5)
    assert.deepEqual(a.grant, { expiresAt: 0n, usesLeft: null })
    // The terms a query is held to, so a client needs no privacy flags.
    assert.deepEqual(a.queryTerms, { defaultEpsilon: 0.1, minEpsilon: 0.05, delta: 1e-7, bounds: {}, exactQueriesLeft: null })
    const exact = await stateWith({ allowExact: true, exactQueries: 4, columns: { identifiers: [], dimensions: [], measures: ['amount'] }, bounds: { amount: [0, 9] } }, { grants: [alice] })
    assert.deepEqual(analystView(exact.state, exact.id, alice)!.queryTerms, { defaultEpsilon: 0.1, minEpsilon: 0.05, delta: 1e-7, bounds: { amount: [0, 9] }, exactQueriesLeft: 4 })
    const tight = await stateWith({ epsilonBudget: 4, analystEpsilonBudget: 3 }, { grants: [alice, bob], spent: [[bob, 3.5]] })
    assert.equal(analystView(tight.state, tight.id, alice)!.epsilonLeft, 0.5) // the dataset is the limit
  })

  it('answers the owner, grantees, past spenders and openAccess analysts; nobody else', async () => {
    const closed = await stateWith({ epsilonBudget: 5 }, { grants: [alice], spent: [[bob, 1]] })
    assert.ok(analystView(closed.state, closed.id, owner.address))
    assert.ok(analystView(closed.state, closed.id, alice))
    assert.ok(analystView(closed.state, closed.id, bob), 'spent ε before: knows the dataset')
    assert.equal(analystView(closed.state, closed.id, carol), undefined)

    const open = await stateWith({ epsilonBudget: 5, analystEpsilonBudget: 5, openAccess: true, buyerDeny: [carol] })
    const b = analystView(open.state, open.id, bob)!
    assert.equal(b.grant, null)
    assert.equal(b.epsilonLeft, 5)
    assert.equal(analystView(open.state, open.id, carol), undefined, 'denied')
    const allowList = await stateWith({ epsilonBudget: 5, openAccess: true, buyerAllow: [alice] })
    assert.equal(analystView(allowList.state, allowList.id, bob), undefined, 'not on the allow list')

    const gone = await stateWith({ epsilonBudget: 5 }, { grants: [alice], deleted: true })
    assert.equal(analystView(gone.state, gone.id, alice), undefined)
  })
})
