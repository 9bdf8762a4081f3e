import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex, encodeAbiParameters, hexToBytes, keccak256, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { JOBS, Replica, TestInbox, registerCommand, signCommand, testBytes } from './fixture.test.js'
import { decodeJobCharge, encodeJobCharge, jobChargeKey } from './job-charge.js'
import { parsePolicy, policyHash } from './policy.js'
import { decodeSnapshot, encodeSnapshot } from './snapshot.js'
import { getDataset } from './state.js'
import { stateRoot } from './state-root.js'

const owner = privateKeyToAccount(bytesToHex(testBytes('owner')))
const analyst = privateKeyToAccount(bytesToHex(testBytes('analyst')))
const stranger = privateKeyToAccount(bytesToHex(testBytes('stranger')))

function chargePayload(p: { jobId: bigint; analyst: Address; datasetId: Hex; epsilonMicros: bigint; tag?: string; admitted?: boolean }): Uint8Array {
  const { tag, admitted, ...c } = p
  return encodeJobCharge({ ...c, analysisHash: keccak256('0x01'), privacyParamsHash: keccak256('0x02'), admitted: admitted ?? false }, tag)
}

async function setup(p: { uses?: number; epsilonBudget?: number; openAccess?: boolean; analystEpsilonBudget?: number; allowExact?: boolean; exactQueries?: number } = {}) {
  const inbox = new TestInbox(testBytes('charges'))
  const exp = inbox.timestamp() + 100_000n
  const r = registerCommand(owner.address, { salt: bytesToHex(testBytes('salt')), dek: testBytes('dek'), nonce: 1n, expiry: exp })
  await inbox.post(await signCommand(owner, r.command), { dek: testBytes('dek') })
  await inbox.post(await signCommand(owner, { type: 'Grant', message: { datasetId: r.datasetId, grantee: analyst.address, expiresAt: 0n, uses: p.uses ?? 0, nonce: 2n, expiry: exp } }))
  const policy = parsePolicy({ epsilonBudget: p.epsilonBudget ?? 1, openAccess: p.openAccess ?? false, ...(p.analystEpsilonBudget ? { analystEpsilonBudget: p.analystEpsilonBudget } : {}), ...(p.allowExact ? { allowExact: true, exactQueries: p.exactQueries ?? 10 } : {}) })
  await inbox.post(await signCommand(owner, { type: 'SetPolicy', message: { datasetId: r.datasetId, policyHash: policyHash(policy), nonce: 3n, expiry: exp } }), { policy })
  const replica = Replica.fromSecret(testBytes('charges'))
  for (const e of inbox.entries) assert.equal((await replica.apply(e)).status, 'applied')
  const charge = async (jobId: bigint, who: Address, epsilonMicros: bigint, sender: Address = JOBS, admitted = false) =>
    replica.apply(inbox.postRaw(chargePayload({ jobId, analyst: who, datasetId: r.datasetId, epsilonMicros, admitted }), 0n, sender))
  return { inbox, replica, datasetId: r.datasetId, charge }
}

describe('job charges from the Jobs contract', () => {
  it('decodes only well-formed, tagged payloads', () => {
    const id = `0x${'11'.repeat(32)}` as Hex
    assert.equal(decodeJobCharge(chargePayload({ jobId: 7n, analyst: analyst.address, datasetId: id, epsilonMicros: 500_000n }))?.jobId, 7n)
    assert.equal(decodeJobCharge(chargePayload({ jobId: 7n, analyst: analyst.address, datasetId: id, epsilonMicros: 1n, tag: 'w3a.other' })), undefined)
    assert.equal(decodeJobCharge(new Uint8Array([1, 2, 3])), undefined)
  })

  it('charges a use and ε once per job, the same on every replica, and refuses what would overspend', async () => {
    const { replica, datasetId, charge, inbox } = await setup({ uses: 3, epsilonBudget: 1 })
    const r0 = await charge(0n, analyst.address, 600_000n)
    assert.equal(r0.status, 'applied')
    assert.equal(r0.type, 'JobCharge')
    const ds = getDataset(replica.state, datasetId)!
    assert.equal(ds.grants.get(analyst.address.toLowerCase() as Address)?.usesLeft, 2)
    assert.equal(ds.budget.spent, 0.6)
    assert.equal(replica.state.jobCharges.get(jobChargeKey(0n))?.status, 'charged')

    // 0.6 + 0.5 > 1: refused, nothing spent, the refusal recorded for the job.
    const r1 = await charge(1n, analyst.address, 500_000n)
    assert.equal(r1.status, 'refused')
    assert.equal(r1.reason, 'budget-exhausted')
    assert.equal(getDataset(replica.state, datasetId)!.budget.spent, 0.6)
    assert.equal(replica.state.jobCharges.get(jobChargeKey(1n))?.reason, 'budget-exhausted')
    // An exact fit of decimal ε is not refused by float rounding.
    assert.equal((await charge(2n, analyst.address, 400_000n)).status, 'applied')

    // The same job id again (not possible from the contract, but a replica must not double-charge).
    const dup = await charge(0n, analyst.address, 0n)
    assert.equal(dup.reason, 'duplicate-job')

    // Not granted; and a charge posted by anyone but the Jobs contract is no charge at all.
    assert.equal((await charge(3n, stranger.address, 0n)).reason, 'not-granted')
    const forged = await charge(4n, analyst.address, 0n, '0x00000000000000000000000000000000000000aa')
    assert.equal(forged.status, 'refused')
    assert.equal(replica.state.jobCharges.has(jobChargeKey(4n)), false)

    // A second replica replaying the same inbox reaches the same root; a snapshot keeps the charges.
    const other = Replica.fromSecret(testBytes('charges'))
    for (const e of inbox.entries) await other.apply(e)
    assert.equal(stateRoot(other.state), stateRoot(replica.state))
    const restored = decodeSnapshot(encodeSnapshot(replica.state))
    assert.equal(stateRoot(restored), stateRoot(replica.state))
    assert.equal(restored.jobCharges.get(jobChargeKey(1n))?.reason, 'budget-exhausted')
  })

  it('stops at the grant’s uses, and open access needs no grant but keeps the analyst share', async () => {
    const limited = await setup({ uses: 1 })
    assert.equal((await limited.charge(0n, analyst.address, 100_000n)).status, 'applied')
    assert.equal((await limited.charge(1n, analyst.address, 100_000n)).reason, 'no-uses-left')

    const open = await setup({ openAccess: true, epsilonBudget: 5, analystEpsilonBudget: 1 })
    assert.equal((await open.charge(0n, stranger.address, 800_000n)).status, 'applied')
    assert.equal((await open.charge(1n, stranger.address, 300_000n)).reason, 'analyst-budget-exhausted')
    assert.equal((await open.charge(2n, analyst.address, 800_000n)).status, 'applied')
  })

  it('a buyer the market listing admitted has access without a grant; grant uses are not spent; ε budgets still hold', async () => {
    const { replica, datasetId, charge } = await setup({ uses: 1, epsilonBudget: 1 })
    assert.equal(decodeJobCharge(chargePayload({ jobId: 9n, analyst: stranger.address, datasetId, epsilonMicros: 1n, admitted: true }))?.admitted, true)
    // Without the listing's admission the stranger has nothing; with it, the charge applies.
    assert.equal((await charge(0n, stranger.address, 0n)).reason, 'not-granted')
    assert.equal((await charge(1n, stranger.address, 300_000n, JOBS, true)).status, 'applied')
    // The analyst's one-use grant stays unspent while the listing admits them.
    assert.equal((await charge(2n, analyst.address, 300_000n, JOBS, true)).status, 'applied')
    assert.equal(getDataset(replica.state, datasetId)!.grants.get(analyst.address.toLowerCase() as Address)?.usesLeft, 1)
    // Admission is access, not budget: 0.6 spent, 0.5 more is refused.
    assert.equal((await charge(3n, stranger.address, 500_000n, JOBS, true)).reason, 'budget-exhausted')
  })

  it('exact jobs (ε 0) only where allowed, and counted per analyst from the charges', async () => {
    const dpOnly = await setup({ openAccess: true })
    assert.equal((await dpOnly.charge(0n, analyst.address, 0n)).reason, 'exact-not-allowed')
    assert.equal((await dpOnly.charge(1n, analyst.address, 1n)).reason, 'epsilon-below-minimum')
    const exact = await setup({ openAccess: true, allowExact: true, exactQueries: 2 })
    assert.equal((await exact.charge(0n, analyst.address, 0n)).status, 'applied')
    assert.equal((await exact.charge(1n, analyst.address, 100_000n)).status, 'applied') // DP ones do not count
    assert.equal((await exact.charge(2n, analyst.address, 0n)).status, 'applied')
    assert.equal((await exact.charge(3n, analyst.address, 0n)).reason, 'exact-queries-exhausted')
    assert.equal((await exact.charge(4n, stranger.address, 0n)).status, 'applied')
  })
})
