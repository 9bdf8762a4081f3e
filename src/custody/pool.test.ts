import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex, keccak256, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { datasetIdFor } from '../crypto/typed-commands.js'
import { JOBS, Replica, TestInbox, signCommand, testBytes } from './fixture.test.js'
import { chargeDigestOf } from './charge-confirmation.js'
import { encodeJobCharge, jobChargeKey } from './job-charge.js'
import { checkJobRelease } from './job-release.js'
import { consentsTo } from './pool.js'
import { decodeSnapshot, encodeSnapshot } from './snapshot.js'
import { stateRoot } from './state-root.js'
import { getDataset } from './state.js'

const curator = privateKeyToAccount(bytesToHex(testBytes('curator')))
const analyst = privateKeyToAccount(bytesToHex(testBytes('pool analyst')))
const people = [0, 1, 2, 3].map((i) => privateKeyToAccount(bytesToHex(testBytes(`contributor ${i}`))))
const ZERO: Hex = `0x${'00'.repeat(32)}`

describe('pools in custody: contributions under their own keys, consent per purpose, withdraw, delete', () => {
  it('a job charge records the contributions that consent to its purpose; withdrawals and deletions count from the next charge', async () => {
    const inbox = new TestInbox(testBytes('pool secret'))
    const replica = Replica.fromSecret(testBytes('pool secret'))
    const exp = inbox.timestamp() + 100_000n
    const apply = async (e: Promise<ReturnType<TestInbox['postRaw']>> | ReturnType<TestInbox['postRaw']>) => replica.apply(await e)
    const salt = bytesToHex(testBytes('pool salt'))
    const poolId = datasetIdFor(curator.address, salt)
    const pool = await apply(inbox.post(await signCommand(curator, { type: 'RegisterPool', message: { datasetId: poolId, salt, manifestCid: 'bafy-pool', purpose: ' Health  Research ', nonce: 1n, expiry: exp } })))
    assert.equal(pool.status, 'applied')
    assert.deepEqual(getDataset(replica.state, poolId)!.pool, { purpose: 'health research', contributions: [] })
    assert.equal(getDataset(replica.state, poolId)!.dek, null, 'a pool holds no key')

    // 0: default consent; 1: any purpose; 2: any but advertising; 3: any (will withdraw then delete).
    const consents = [{ allow: ['health research'], deny: [] }, { allow: ['*'], deny: [] }, { allow: ['*'], deny: ['Advertising'] }, { allow: ['*'], deny: [] }]
    const ids: Hex[] = []
    for (const [i, p] of people.entries()) {
      const cSalt = bytesToHex(testBytes(`contribution ${i}`))
      const dek = testBytes(`dek ${i}`)
      const id = datasetIdFor(p.address, cSalt)
      ids.push(id)
      const r = await apply(inbox.post(await signCommand(p, { type: 'Contribute', message: { datasetId: id, salt: cSalt, pool: poolId, manifestCid: `bafy-${i}`, sealedKeyHash: keccak256(dek), ...consents[i]!, nonce: 1n, expiry: exp } }), { dek }))
      assert.equal(r.status, 'applied', `contribution ${i}`)
    }
    // Only the contributor changes its consent; a contribution to something that is not a pool is refused.
    assert.equal((await apply(inbox.post(await signCommand(curator, { type: 'SetConsent', message: { datasetId: ids[0]!, allow: ['*'], deny: [], withdrawn: false, nonce: 2n, expiry: exp } })))).reason, 'not-owner')
    const stray = datasetIdFor(people[0]!.address, bytesToHex(testBytes('stray')))
    const strayDek = testBytes('stray dek')
    assert.equal((await apply(inbox.post(await signCommand(people[0]!, { type: 'Contribute', message: { datasetId: stray, salt: bytesToHex(testBytes('stray')), pool: ids[1]!, manifestCid: 'x', sealedKeyHash: keccak256(strayDek), allow: [], deny: [], nonce: 3n, expiry: exp } }), { dek: strayDek }))).reason, 'not-a-pool')

    const policy = (await import('./policy.js')).parsePolicy({ openAccess: true, epsilonBudget: 10 })
    const { policyHash } = await import('./policy.js')
    assert.equal((await apply(inbox.post(await signCommand(curator, { type: 'SetPolicy', message: { datasetId: poolId, policyHash: policyHash(policy), nonce: 4n, expiry: exp } }), { policy }))).status, 'applied')
    let jobId = 0n
    const charge = async (purpose: string) => {
      const c = { jobId: ++jobId, analyst: analyst.address, datasetId: poolId, analysisHash: ZERO, privacyParamsHash: ZERO, epsilonMicros: 100_000n, admitted: true, analysisKind: 'sql' as const, functionHash: ZERO, purpose }
      const r = await apply(inbox.postRaw(encodeJobCharge(c), 0n, JOBS))
      return { receipt: r, record: replica.state.jobCharges.get(jobChargeKey(jobId)), job: c }
    }
    const sorted = (xs: Hex[]) => [...xs].sort()
    assert.deepEqual((await charge('Health research')).record!.inputs, sorted(ids))
    assert.deepEqual((await charge('advertising')).record!.inputs, sorted([ids[1]!, ids[3]!]))
    assert.equal((await charge('marketing')).record!.inputs!.length, 3)

    // Withdraw 3: out of the next charge; a charge made before still releases its key.
    const before = await charge('health research')
    assert.equal((await apply(inbox.post(await signCommand(people[3]!, { type: 'SetConsent', message: { datasetId: ids[3]!, allow: ['*'], deny: [], withdrawn: true, nonce: 2n, expiry: exp } })))).status, 'applied')
    assert.deepEqual((await charge('health research')).record!.inputs, sorted(ids.slice(0, 3)))
    const released = checkJobRelease(replica.state, before.job)
    assert.ok(released.ok)
    assert.deepEqual(released.ok && released.contributions!.map((c) => c.datasetId), sorted(ids))

    // Delete 3: its key is gone from custody, from its pool, and from the release of the earlier charge.
    const digestBefore = chargeDigestOf(replica.state, { chainId: 1, jobs: JOBS, epoch: 0n }, before.job.jobId, analyst.address, ZERO)
    const del = await apply(inbox.post(await signCommand(people[3]!, { type: 'Delete', message: { datasetId: ids[3]!, nonce: 3n, expiry: exp } })))
    assert.equal(del.status, 'applied')
    assert.equal(getDataset(replica.state, ids[3]!)!.dek, null)
    assert.deepEqual(sorted([...getDataset(replica.state, poolId)!.pool!.contributions]), sorted(ids.slice(0, 3)))
    const after = checkJobRelease(replica.state, before.job)
    assert.deepEqual(after.ok && after.contributions!.map((c) => c.datasetId), sorted(ids.slice(0, 3)))
    const digestAfter = chargeDigestOf(replica.state, { chainId: 1, jobs: JOBS, epoch: 0n }, before.job.jobId, analyst.address, ZERO)
    assert.ok(digestBefore.ok && digestAfter.ok && digestBefore.digest !== digestAfter.digest, 'keepers confirm which keys go out')

    // A job that declares another purpose than it was charged for is no match.
    assert.deepEqual(checkJobRelease(replica.state, { ...before.job, purpose: 'advertising' }), { ok: false, reason: 'job-mismatch' })
    // Nobody consents: the charge is refused, nothing spent.
    const spent = getDataset(replica.state, poolId)!.budget.spent
    for (const [i, p] of people.slice(0, 3).entries()) {
      assert.equal((await apply(inbox.post(await signCommand(p, { type: 'SetConsent', message: { datasetId: ids[i]!, allow: [], deny: [], withdrawn: true, nonce: 10n, expiry: exp } })))).status, 'applied')
    }
    assert.equal((await charge('health research')).receipt.reason, 'no-contributions')
    assert.equal(getDataset(replica.state, poolId)!.budget.spent, spent)

    // The snapshot (version 5) keeps pools, consents and charges' inputs: same state root.
    const back = decodeSnapshot(encodeSnapshot(replica.state))
    assert.equal(stateRoot(back), stateRoot(replica.state))
    assert.deepEqual(getDataset(back, ids[2]!)!.contribution, { pool: poolId, allow: [], deny: [], withdrawn: true })
  })

  it('consent: a denial wins, * allows any purpose, purposes compare trimmed and lowercased', () => {
    assert.equal(consentsTo({ allow: ['*'], deny: ['advertising'], withdrawn: false }, ' ADVERTISING '), false)
    assert.equal(consentsTo({ allow: ['*'], deny: [], withdrawn: false }, 'anything'), true)
    assert.equal(consentsTo({ allow: ['health research'], deny: [], withdrawn: false }, 'Health   research'), true)
    assert.equal(consentsTo({ allow: ['*'], deny: [], withdrawn: true }, 'health research'), false)
    assert.equal(consentsTo({ allow: ['*'], deny: [], withdrawn: false }, '  '), false)
  })
})
