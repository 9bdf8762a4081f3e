import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { EpochKeyring } from './epoch-keys.js'
import { CHAIN_ID, EPOCH_LENGTH, INBOX, Replica, TestInbox, registerCommand, signCommand, testBytes } from './fixture.test.js'
import { verifyReceipt, type SignedCustodyReceipt } from './receipt.js'
import { replayInbox } from './replay.js'
import { createEmptyState } from './state.js'
import { stateRoot } from './state-root.js'

const owner = privateKeyToAccount(bytesToHex(testBytes('owner')))
const analyst = privateKeyToAccount(bytesToHex(testBytes('analyst')))
const keeper = privateKeyToAccount(bytesToHex(testBytes('keeper')))

async function inbox(): Promise<TestInbox> {
  const inbox = new TestInbox(testBytes('replay'))
  const exp = inbox.timestamp() + 100_000n
  for (let i = 0; i < 12; i++) {
    const r = registerCommand(owner.address, { salt: bytesToHex(testBytes(`rs ${i}`)), dek: testBytes(`rd ${i}`), nonce: BigInt(2 * i), expiry: exp })
    await inbox.post(await signCommand(owner, r.command), { dek: testBytes(`rd ${i}`) })
    await inbox.post(await signCommand(owner, { type: 'Grant', message: { datasetId: r.datasetId, grantee: analyst.address, expiresAt: 0n, uses: i, nonce: BigInt(2 * i + 1), expiry: exp } }))
    if (i % 3 === 0) inbox.postRaw(testBytes(`junk ${i}`, 120))
    if (i % 4 === 3) inbox.mine(EPOCH_LENGTH) // several epoch boundaries
  }
  // The last entry re-posts entry 1 (same ciphertext, now sealed to a past epoch).
  inbox.postRaw(inbox.entries[1]!.ciphertext.slice(), 0n)
  return inbox
}

describe('replayInbox', () => {
  it('gives exactly what applying one entry at a time gives, whatever the lookahead', async () => {
    const ib = await inbox()
    const one = Replica.fromSecret(testBytes('replay'), keeper)
    const roots: string[] = []
    for (const e of ib.entries) {
      await one.apply(e)
      roots.push(stateRoot(one.state))
    }
    for (const lookahead of [1, 3, 16]) {
      const keyring = new EpochKeyring(0n, testBytes('replay'))
      const out = await replayInbox(createEmptyState(), ib.entries, { keyring, chainId: CHAIN_ID, inbox: INBOX, epochLength: EPOCH_LENGTH, signer: keeper, lookahead })
      assert.deepEqual(out.receipts, one.receipts)
      assert.deepEqual(out.receipts.map((r) => r.stateRoot), roots)
      assert.equal(stateRoot(out.state), roots.at(-1))
      assert.equal(keyring.epoch, ib.entries.at(-1)!.blockNumber / EPOCH_LENGTH)
      await verifyReceipt(out.receipts[0] as SignedCustodyReceipt, keeper.address)
    }
    assert.equal(one.receipts.at(-1)!.reason, 'sealed-to-past-epoch')
    assert.ok(one.receipts.some((r) => r.reason === 'undecryptable'))
  })

  it('resumes from a state part-way, in batches', async () => {
    const ib = await inbox()
    const keyring = new EpochKeyring(0n, testBytes('replay'))
    const ctx = { keyring, chainId: CHAIN_ID, inbox: INBOX, epochLength: EPOCH_LENGTH }
    let state = createEmptyState()
    for (let i = 0; i < ib.entries.length; i += 7) state = (await replayInbox(state, ib.entries.slice(i, i + 7), ctx)).state
    const whole = await replayInbox(createEmptyState(), ib.entries, { ...ctx, keyring: new EpochKeyring(0n, testBytes('replay')) })
    assert.equal(stateRoot(state), stateRoot(whole.state))
  })

  it('refuses entries that do not continue the state, before applying any', async () => {
    const ib = await inbox()
    const keyring = new EpochKeyring(0n, testBytes('replay'))
    const ctx = { keyring, chainId: CHAIN_ID, inbox: INBOX, epochLength: EPOCH_LENGTH }
    const state = createEmptyState()
    await assert.rejects(replayInbox(state, ib.entries.slice(1), ctx), (e: unknown) => isW3aError(e, 'CUSTODY_OUT_OF_ORDER'))
    await assert.rejects(replayInbox(state, [ib.entries[0]!, ib.entries[2]!], ctx), (e: unknown) => isW3aError(e, 'CUSTODY_OUT_OF_ORDER'))
    assert.equal(keyring.epoch, 0n)
    // A keyring already past an entry's epoch cannot go back for it.
    keyring.advanceTo(5n)
    await assert.rejects(replayInbox(state, ib.entries, ctx), (e: unknown) => isW3aError(e, 'EPOCH_REGRESSION'))
  })
})
