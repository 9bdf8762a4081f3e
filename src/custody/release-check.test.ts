import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { Replica, TestInbox, registerCommand, signCommand, testBytes } from './fixture.test.js'
import { parsePolicy, policyHash, type CustodyPolicyInput } from './policy.js'
import { chargeAccess, checkAccess, type AccessRequest } from './release-check.js'
import type { CustodyState } from './state.js'
import { stateRoot } from './state-root.js'

const owner = privateKeyToAccount(bytesToHex(testBytes('owner')))
const analyst = privateKeyToAccount(bytesToHex(testBytes('analyst')))
const stranger = privateKeyToAccount(bytesToHex(testBytes('stranger')))

async function custody(p: { policy?: CustodyPolicyInput; expiresAt?: bigint; uses?: number; delete?: boolean } = {}): Promise<{ state: CustodyState; req: AccessRequest }> {
  const inbox = new TestInbox(testBytes('release'))
  const exp = inbox.timestamp() + 100_000n
  const r = registerCommand(owner.address, { salt: bytesToHex(testBytes('r salt')), dek: testBytes('r dek'), nonce: 1n, expiry: exp })
  await inbox.post(await signCommand(owner, r.command), { dek: testBytes('r dek') })
  await inbox.post(await signCommand(owner, { type: 'Grant', message: { datasetId: r.datasetId, grantee: analyst.address, expiresAt: p.expiresAt ?? 0n, uses: p.uses ?? 0, nonce: 2n, expiry: exp } }))
  if (p.policy) {
    const policy = parsePolicy(p.policy)
    await inbox.post(await signCommand(owner, { type: 'SetPolicy', message: { datasetId: r.datasetId, policyHash: policyHash(policy), nonce: 3n, expiry: exp } }), { policy })
  }
  if (p.delete) await inbox.post(await signCommand(owner, { type: 'Delete', message: { datasetId: r.datasetId, nonce: 4n, expiry: exp } }))
  const replica = Replica.fromSecret(testBytes('release'))
  for (const e of inbox.entries) assert.equal((await replica.apply(e)).status, 'applied')
  return { state: replica.state, req: { datasetId: r.datasetId, analyst: analyst.address, analysis: 'sql', epsilon: 1, now: 1_800_000_000n } }
}

describe('release check', () => {
  it('allows a granted analyst and reports what is left', async () => {
    const { state, req } = await custody({ uses: 2 })
    assert.deepEqual(checkAccess(state, req), { ok: true, usesLeft: 2, epsilonLeft: 3 })
  })

  it('refuses with the right reason', async () => {
    const reason = async (p: Parameters<typeof custody>[0], patch: Partial<AccessRequest> = {}) => {
      const { state, req } = await custody(p)
      const d = checkAccess(state, { ...req, ...patch })
      return d.ok ? 'ok' : d.reason
    }
    assert.equal(await reason({}, { analyst: stranger.address }), 'not-granted')
    assert.equal(await reason({}, { datasetId: `0x${'42'.repeat(32)}` }), 'unknown-dataset')
    assert.equal(await reason({ delete: true }), 'deleted')
    assert.equal(await reason({}, { analysis: 'function' }), 'analysis-not-allowed')
    assert.equal(await reason({ policy: { analyses: ['sql', 'function'] } }, { analysis: 'function' }), 'ok')
    assert.equal(await reason({ policy: { buyerDeny: [analyst.address] } }), 'denied')
    assert.equal(await reason({ policy: { buyerAllow: [stranger.address] } }), 'denied')
    assert.equal(await reason({ policy: { buyerAllow: [analyst.address] } }), 'ok')
    assert.equal(await reason({ expiresAt: 1_800_000_000n }), 'grant-expired')
    assert.equal(await reason({ expiresAt: 1_800_000_001n }), 'ok')
    assert.equal(await reason({ policy: { epsilonBudget: 0.5 } }), 'budget-exhausted')
    assert.equal(await reason({}, { epsilon: -1 }), 'invalid-epsilon')
    assert.equal(await reason({}, { epsilon: Number.NaN }), 'invalid-epsilon')
    // The default policy: at least minEpsilon (0.05) per query, no exact answers, 1 ε per analyst.
    assert.equal(await reason({}, { epsilon: 0.04 }), 'epsilon-below-minimum')
    assert.equal(await reason({}, { epsilon: 0.000001 }), 'epsilon-below-minimum')
    assert.equal(await reason({}, { epsilon: 0 }), 'exact-not-allowed')
    assert.equal(await reason({}, { epsilon: 1.5 }), 'analyst-budget-exhausted')
    assert.equal(await reason({ policy: { allowExact: true } }, { epsilon: 0 }), 'ok')
    assert.equal(await reason({ policy: { allowExact: true, exactQueries: 0 } }, { epsilon: 0 }), 'exact-queries-exhausted')
  })

  it('a spent analyst is refused whatever ε they ask, exact included', async () => {
    const { state, req } = await custody({ policy: { allowExact: true, epsilonBudget: 3, analystEpsilonBudget: 1 } })
    const spent = chargeAccess(state, { ...req, epsilon: 0.98 }).state
    for (const epsilon of [0, 0.000001, 0.01, 0.05, 0.5, 1, 100]) {
      const d = checkAccess(spent, { ...req, epsilon })
      assert.ok(!d.ok && ['analyst-budget-exhausted', 'budget-exhausted', 'epsilon-below-minimum'].includes(d.reason), `ε ${epsilon}: ${JSON.stringify(d)}`)
    }
  })

  it('charging spends uses and budget, returns a new state, and refuses once exhausted', async () => {
    const { state, req } = await custody({ uses: 2, policy: { epsilonBudget: 2.5, analystEpsilonBudget: 2.5, allowExact: true } })
    const c1 = chargeAccess(state, req)
    assert.deepEqual([c1.usesLeft, c1.epsilonLeft], [1, 1.5])
    assert.deepEqual(checkAccess(state, req), { ok: true, usesLeft: 2, epsilonLeft: 2.5 }) // the old state is untouched
    assert.notEqual(stateRoot(c1.state), stateRoot(state))
    const c2 = chargeAccess(c1.state, { ...req, epsilon: 1.5 })
    assert.deepEqual([c2.usesLeft, c2.epsilonLeft], [0, 0])
    assert.throws(() => chargeAccess(c2.state, { ...req, epsilon: 0 }), (e: unknown) => isW3aError(e, 'ACCESS_DENIED') && e.details.includes('reason: no-uses-left'))
    const record = c2.state.datasets.get(req.datasetId.toLowerCase())!
    assert.equal(record.budget.spent, 2.5)
    assert.equal(record.budget.perAnalyst.get(analyst.address.toLowerCase() as `0x${string}`), 2.5)

    const unlimited = await custody({ uses: 0, policy: { epsilonBudget: 1 } })
    const u1 = chargeAccess(unlimited.state, unlimited.req)
    assert.equal(u1.usesLeft, null)
    assert.throws(() => chargeAccess(u1.state, { ...unlimited.req, epsilon: 0.05 }), (e: unknown) => isW3aError(e, 'ACCESS_DENIED') && e.details.includes('reason: budget-exhausted'))
  })
})
