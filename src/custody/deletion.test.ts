import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { generateHpkeKeyPair, hpkeOpen } from '../crypto/hpke.js'
import { EpochKeyring, epochKeyPair, nextEpochSecret } from './epoch-keys.js'
import { CHAIN_ID, EPOCH_LENGTH, INBOX, Replica, TestInbox, containsBytes, hexOf, registerCommand, signCommand, testBytes } from './fixture.test.js'
import { parsePolicy, policyHash } from './policy.js'
import { receiptToJson, verifyReceipt, type SignedCustodyReceipt } from './receipt.js'
import { COMMAND_INFO, commandAad, openCommand } from './sealed-command.js'
import { encodeSnapshot } from './snapshot.js'
import { getDataset } from './state.js'

const owner = privateKeyToAccount(bytesToHex(testBytes('owner')))
const analyst = privateKeyToAccount(bytesToHex(testBytes('analyst')))
const keeperKey = testBytes('keeper')
const keeper = privateKeyToAccount(bytesToHex(keeperKey))

describe('delete: crypto-shredding', () => {
  it('after delete and an epoch advance, nothing the keeper holds has the DEK, and the register ciphertext cannot be opened', async () => {
    const secret0 = testBytes('shred')
    const inbox = new TestInbox(secret0)
    const replica = Replica.fromSecret(secret0, keeper)
    const workerHpke = await generateHpkeKeyPair() // the keeper's own HPKE key (owner queries)
    const exp = inbox.timestamp() + 100_000n
    const dek = testBytes('the dek')
    const keptDek = testBytes('a dek that stays')

    // Epoch 0: register the dataset that will be deleted, and one that stays.
    const reg = registerCommand(owner.address, { salt: bytesToHex(testBytes('gone')), dek, nonce: 1n, expiry: exp })
    const regEntry = await inbox.post(await signCommand(owner, reg.command), { dek })
    const kept = registerCommand(owner.address, { salt: bytesToHex(testBytes('kept')), dek: keptDek, nonce: 2n, expiry: exp })
    await inbox.post(await signCommand(owner, kept.command), { dek: keptDek })
    await replica.apply(inbox.entries[0]!)
    await replica.apply(inbox.entries[1]!)
    // Control: while epoch 0's secret is held, the on-chain register ciphertext opens and holds the DEK.
    const opened = await openCommand({ keyring: replica.keyring, epoch: 0n, chainId: CHAIN_ID, inbox: INBOX, ciphertext: regEntry.ciphertext })
    assert.deepEqual(opened.dek, dek)
    const liveRecord = getDataset(replica.state, reg.datasetId)!
    assert.deepEqual(liveRecord.dek, dek)

    // Epoch 1: some activity, then Delete.
    inbox.mine(EPOCH_LENGTH)
    const policy = parsePolicy({ k: 20 })
    await inbox.post(await signCommand(owner, { type: 'SetPolicy', message: { datasetId: reg.datasetId, policyHash: policyHash(policy), nonce: 3n, expiry: exp } }), { policy })
    await inbox.post(await signCommand(owner, { type: 'Grant', message: { datasetId: reg.datasetId, grantee: analyst.address, expiresAt: 0n, uses: 0, nonce: 4n, expiry: exp } }))
    await inbox.post(await signCommand(owner, { type: 'Delete', message: { datasetId: reg.datasetId, nonce: 5n, expiry: exp } }))
    for (const e of inbox.entries.slice(2)) await replica.apply(e)
    const del = replica.receipts.at(-1) as SignedCustodyReceipt
    assert.equal(del.type, 'Delete')
    assert.equal(del.status, 'applied')
    assert.equal(del.unrecoverableAfterEpoch, 0n)
    await verifyReceipt(del, keeper.address)

    // Dropped at once: the record has no key, and the bytes the older state shared are zeroed.
    const record = getDataset(replica.state, reg.datasetId)!
    assert.equal(record.deleted, true)
    assert.equal(record.dek, null)
    assert.equal(record.grants.size, 0)
    assert.ok(liveRecord.dek!.every((b) => b === 0))

    // Epoch 2: the keeper has replayed everything mined before it, so it erases S_1 (and S_0 is long gone).
    inbox.mine(EPOCH_LENGTH)
    await inbox.post(await signCommand(owner, { type: 'Grant', message: { datasetId: kept.datasetId, grantee: analyst.address, expiresAt: 0n, uses: 0, nonce: 6n, expiry: exp } }))
    await replica.apply(inbox.entries.at(-1)!)
    assert.equal(replica.keyring.epoch, 2n)

    // Nothing held contains the DEK, raw or hex: keyring export, snapshot, every receipt.
    const exported = replica.keyring.export()
    const snapshot = encodeSnapshot(replica.state)
    const receipts = new TextEncoder().encode(JSON.stringify(replica.receipts.map((r) => receiptToJson(r as SignedCustodyReceipt))))
    for (const [what, bytes] of [['keyring export', exported], ['snapshot', snapshot], ['receipts', receipts]] as const) {
      assert.equal(containsBytes(bytes, dek), false, `${what} holds the DEK`)
      assert.equal(containsBytes(bytes, new TextEncoder().encode(hexOf(dek))), false, `${what} holds the DEK in hex`)
    }
    assert.ok(containsBytes(snapshot, keptDek), 'control: the snapshot does hold the live dataset key')

    // Every key material the keeper has (and everything it could derive) fails to open the register ciphertext.
    const s2 = exported.subarray(13)
    const candidates: [string, Uint8Array][] = [
      ['epoch 2 HPKE private key', (await replica.keyring.keyPair()).privateKey],
      ['S_2 used as a key', s2],
      ['epoch 3 HPKE private key (ratcheted forward)', (await epochKeyPair(nextEpochSecret(s2))).privateKey],
      ['epoch 4 HPKE private key', (await epochKeyPair(nextEpochSecret(nextEpochSecret(s2)))).privateKey],
      ['worker HPKE private key', workerHpke.privateKey],
      ['worker secp256k1 key bytes', keeperKey],
    ]
    const enc = regEntry.ciphertext.subarray(0, 32)
    const ct = regEntry.ciphertext.subarray(32)
    for (const [what, key] of candidates) {
      for (const epoch of [0n, 1n, 2n]) {
        await assert.rejects(
          hpkeOpen({ recipientPrivateKey: key, enc, info: COMMAND_INFO, aad: commandAad(CHAIN_ID, INBOX, epoch) }, ct),
          (e: unknown) => isW3aError(e, 'HPKE_OPEN_FAILED'),
          `${what} (aad epoch ${epoch}) opened it`,
        )
      }
    }
    await assert.rejects(replica.keyring.open({ enc, info: COMMAND_INFO, aad: commandAad(CHAIN_ID, INBOX, 0n) }, ct), (e: unknown) => isW3aError(e, 'HPKE_OPEN_FAILED'))
    await assert.rejects(openCommand({ keyring: replica.keyring, epoch: 0n, chainId: CHAIN_ID, inbox: INBOX, ciphertext: regEntry.ciphertext }), (e: unknown) => isW3aError(e, 'HPKE_OPEN_FAILED'))
    // And the keyring cannot be taken back to epoch 0.
    assert.throws(() => replica.keyring.advanceTo(0n), (e: unknown) => isW3aError(e, 'EPOCH_REGRESSION'))
    // A restored keyring is no different.
    const restored = EpochKeyring.import(exported)
    await assert.rejects(restored.open({ enc, info: COMMAND_INFO, aad: commandAad(CHAIN_ID, INBOX, 0n) }, ct), (e: unknown) => isW3aError(e, 'HPKE_OPEN_FAILED'))
  })
})
