import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { EpochKeyring } from './epoch-keys.js'
import { EPOCH_LENGTH, Replica, TestInbox, registerCommand, signCommand, testBytes } from './fixture.test.js'
import { chargeAccess } from './release-check.js'
import { decodeSnapshot, encodeSnapshot } from './snapshot.js'
import { stateRoot } from './state-root.js'

const owner = privateKeyToAccount(bytesToHex(testBytes('owner')))
const analyst = privateKeyToAccount(bytesToHex(testBytes('analyst')))

async function inboxWithHistory(): Promise<TestInbox> {
  const inbox = new TestInbox(testBytes('snap'))
  const exp = inbox.timestamp() + 100_000n
  for (let i = 0; i < 4; i++) {
    const r = registerCommand(owner.address, { salt: bytesToHex(testBytes(`salt ${i}`)), dek: testBytes(`dek ${i}`), nonce: BigInt(10 * i), expiry: exp })
    await inbox.post(await signCommand(owner, r.command), { dek: testBytes(`dek ${i}`) })
    await inbox.post(await signCommand(owner, { type: 'Grant', message: { datasetId: r.datasetId, grantee: analyst.address, expiresAt: BigInt(i), uses: i, nonce: BigInt(10 * i + 1), expiry: exp } }))
    if (i === 1) await inbox.post(await signCommand(owner, { type: 'Delete', message: { datasetId: r.datasetId, nonce: 99n, expiry: exp } }))
    inbox.mine(EPOCH_LENGTH / 2n)
  }
  return inbox
}

describe('custody snapshots', () => {
  it('snapshot + keyring export restore a replica that resumes to the same root at every step', async () => {
    const inbox = await inboxWithHistory()
    const a = Replica.fromSecret(testBytes('snap'))
    const half = 5
    for (const e of inbox.entries.slice(0, half)) await a.apply(e)
    const snap = encodeSnapshot(a.state)
    const restoredState = decodeSnapshot(snap)
    assert.equal(stateRoot(restoredState), stateRoot(a.state))
    assert.deepEqual(encodeSnapshot(restoredState), snap) // one encoding per state
    const b = new Replica(EpochKeyring.import(a.keyring.export()))
    b.state = restoredState
    for (const e of inbox.entries.slice(half)) {
      await a.apply(e)
      await b.apply(e)
      assert.equal(stateRoot(b.state), stateRoot(a.state))
    }
    assert.equal(b.state.processed, BigInt(inbox.entries.length))
  })

  it('keeps budgets, grants with limits, nonces and deleted flags', async () => {
    const inbox = await inboxWithHistory()
    const a = Replica.fromSecret(testBytes('snap'))
    for (const e of inbox.entries) await a.apply(e)
    const id = registerCommand(owner.address, { salt: bytesToHex(testBytes('salt 3')), dek: testBytes('dek 3'), nonce: 0n, expiry: 0n }).datasetId
    const charged = chargeAccess(a.state, { datasetId: id, analyst: analyst.address, analysis: 'sql', epsilon: 0.25, now: 0n }).state
    const back = decodeSnapshot(encodeSnapshot(charged))
    assert.equal(stateRoot(back), stateRoot(charged))
    assert.notEqual(stateRoot(back), stateRoot(a.state))
    assert.equal(back.datasets.get(id)!.budget.spent, 0.25)
    assert.equal(back.datasets.get(id)!.grants.get(analyst.address.toLowerCase() as `0x${string}`)!.usesLeft, 2)
    assert.deepEqual(back.usedNonces.get(owner.address.toLowerCase()), charged.usedNonces.get(owner.address.toLowerCase()))
  })

  it('refuses corrupted or non-canonical bytes', async () => {
    const inbox = await inboxWithHistory()
    const a = Replica.fromSecret(testBytes('snap'))
    for (const e of inbox.entries) await a.apply(e)
    const snap = encodeSnapshot(a.state)
    const bad = [snap.subarray(0, snap.length - 1), new Uint8Array([...snap, 0]), new Uint8Array([0x58, ...snap.subarray(1)])]
    for (const b of bad) assert.throws(() => decodeSnapshot(b), (e: unknown) => isW3aError(e, 'CUSTODY_MALFORMED'))
  })
})
