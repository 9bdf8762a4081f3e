import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { EpochKeyring } from './epoch-keys.js'
import { EPOCH_LENGTH, Replica, TestInbox, registerCommand, signCommand, testBytes } from './fixture.test.js'
import { chargeAccess } from './release-check.js'
import { decodeSnapshot, encodeSnapshot } from './snapshot.js'
import { ByteReader, ByteWriter } from './canonical.js'
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

  it('a version 4 snapshot (sealed before pools) still loads, to the same state root', async () => {
    const inbox = await inboxWithHistory()
    const a = Replica.fromSecret(testBytes('snap'))
    for (const e of inbox.entries) await a.apply(e)
    // Version 4's layout, from today's: no hasKey after `deleted`, no pool or contribution flags after the writer.
    const r = new ByteReader(encodeSnapshot(a.state))
    const w = new ByteWriter().raw(r.raw(4))
    assert.equal(r.u8(), 5)
    w.u8(4).u64(r.u64()).bytes32(r.bytes32()).u64(r.u64())
    const n = r.u32()
    w.u32(n)
    for (let i = 0; i < n; i++) {
      w.bytes32(r.bytes32()).address(r.address()).string(r.string())
      const deleted = r.u8()
      const hasKey = r.u8()
      assert.equal(hasKey, deleted ? 0 : 1)
      w.u8(deleted)
      if (hasKey) w.raw(r.raw(32))
      w.string(r.string()).u64(r.u64()).u64(r.u64()).f64(r.f64())
      for (let k = r.u32(), _ = w.u32(k); k > 0; k--) w.address(r.address()).f64(r.f64())
      for (let k = r.u32(), _ = w.u32(k); k > 0; k--) w.address(r.address()).u64(r.u64()).u8(r.u8()).u32(r.u32())
      const hasWriter = r.u8()
      w.u8(hasWriter)
      if (hasWriter) w.address(r.address())
      assert.deepEqual([r.u8(), r.u8()], [0, 0], 'no pool, no contribution')
    }
    for (let m = r.u32(), _ = w.u32(m); m > 0; m--) {
      w.address(r.address())
      for (let k = r.u32(), _k = w.u32(k); k > 0; k--) w.u256(r.u256()).u64(r.u64())
    }
    assert.deepEqual([r.u32(), r.u32()], [0, 0], 'no job charges, no keepers in this history')
    r.end()
    const v4 = w.u32(0).u32(0).finish()
    const back = decodeSnapshot(v4)
    assert.equal(stateRoot(back), stateRoot(a.state))
    assert.deepEqual(encodeSnapshot(back), encodeSnapshot(a.state), 'saved again as version 5')
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
