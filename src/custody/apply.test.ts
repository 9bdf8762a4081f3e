import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { bytesToHex, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { dekHash } from '../crypto/typed-commands.js'
import { applyInboxEntry } from './apply.js'
import { EpochKeyring } from './epoch-keys.js'
import { CHAIN_ID, DOMAIN, EPOCH_LENGTH, INBOX, Replica, TestInbox, registerCommand, signCommand, testBytes } from './fixture.test.js'
import { nextInboxHead, type InboxEntry } from './inbox-head.js'
import { parsePolicy, policyHash } from './policy.js'
import { verifyReceipt, type RefusalReason, type SignedCustodyReceipt } from './receipt.js'
import { getDataset, type CustodyState } from './state.js'
import { stateRoot, stateRootParts } from './state-root.js'
import { decodeSnapshot, encodeSnapshot } from './snapshot.js'

const owner = privateKeyToAccount(bytesToHex(testBytes('owner')))
const mallory = privateKeyToAccount(bytesToHex(testBytes('mallory')))
const analyst = privateKeyToAccount(bytesToHex(testBytes('analyst')))
const keeper = privateKeyToAccount(bytesToHex(testBytes('keeper')))

/** A realistic inbox across three epochs, with applied and refused entries mixed. */
async function scenario(): Promise<TestInbox> {
  const inbox = new TestInbox(testBytes('cluster secret'))
  const exp = inbox.timestamp() + 10_000n
  const ra = registerCommand(owner.address, { salt: bytesToHex(testBytes('salt a')), dek: testBytes('dek a'), nonce: 1n, expiry: exp })
  await inbox.post(await signCommand(owner, ra.command), { dek: testBytes('dek a') })
  const rb = registerCommand(mallory.address, { salt: bytesToHex(testBytes('salt b')), dek: testBytes('dek b'), nonce: 1n, expiry: exp })
  await inbox.post(await signCommand(mallory, rb.command), { dek: testBytes('dek b') })
  await inbox.post(await signCommand(owner, { type: 'Grant', message: { datasetId: ra.datasetId, grantee: analyst.address, expiresAt: 0n, uses: 3, nonce: 2n, expiry: exp } }))
  await inbox.post(await signCommand(mallory, { type: 'Grant', message: { datasetId: ra.datasetId, grantee: mallory.address, expiresAt: 0n, uses: 0, nonce: 2n, expiry: exp } })) // not-owner
  inbox.mine(EPOCH_LENGTH) // epoch 1
  const policy = parsePolicy({ k: 25, epsilonBudget: 3, buyerDeny: [mallory.address] })
  await inbox.post(await signCommand(owner, { type: 'SetPolicy', message: { datasetId: ra.datasetId, policyHash: policyHash(policy), nonce: 3n, expiry: exp } }), { policy })
  await inbox.post(await signCommand(owner, { type: 'Grant', message: { datasetId: ra.datasetId, grantee: mallory.address, expiresAt: inbox.timestamp() + 500n, uses: 1, nonce: 4n, expiry: exp } }))
  await inbox.post(await signCommand(owner, { type: 'Revoke', message: { datasetId: ra.datasetId, grantee: mallory.address, nonce: 5n, expiry: exp } }))
  await inbox.post(await signCommand(owner, { type: 'Revoke', message: { datasetId: ra.datasetId, grantee: mallory.address, nonce: 5n, expiry: exp } })) // replayed-nonce
  inbox.postRaw(testBytes('garbage', 300)) // undecryptable
  inbox.mine(EPOCH_LENGTH) // epoch 2
  await inbox.post(await signCommand(mallory, { type: 'Delete', message: { datasetId: rb.datasetId, nonce: 3n, expiry: exp } }))
  await inbox.post(await signCommand(mallory, { type: 'Grant', message: { datasetId: rb.datasetId, grantee: analyst.address, expiresAt: 0n, uses: 0, nonce: 4n, expiry: exp } })) // dataset-deleted
  await inbox.post(await signCommand(owner, { type: 'Grant', message: { datasetId: ra.datasetId, grantee: analyst.address, expiresAt: 0n, uses: 0, nonce: 6n, expiry: exp } }))
  return inbox
}

async function replay(inbox: TestInbox, replica: Replica, upTo = inbox.entries.length): Promise<Hex[]> {
  const roots: Hex[] = []
  for (const e of inbox.entries.slice(Number(replica.state.processed), upTo)) {
    await replica.apply(e)
    roots.push(stateRoot(replica.state))
  }
  return roots
}

describe('custody apply: determinism', () => {
  it('two independent replicas replaying the same inbox have the same root at every step', async () => {
    const inbox = await scenario()
    const r1 = Replica.fromSecret(testBytes('cluster secret'))
    const r2 = Replica.fromSecret(testBytes('cluster secret'), keeper)
    const roots1 = await replay(inbox, r1)
    const roots2 = await replay(inbox, r2)
    assert.equal(roots1.length, inbox.entries.length)
    assert.deepEqual(roots2, roots1)
    // Receipts agree too (r2's are signed, r1's are not; the bodies match), and carry the root.
    for (let i = 0; i < roots1.length; i++) {
      const { keeper: _k, signature: _s, ...body } = r2.receipts[i] as SignedCustodyReceipt
      assert.deepEqual(body, r1.receipts[i])
      assert.equal(r1.receipts[i]!.stateRoot, roots1[i])
    }
    // The root is not constant: every entry moves it (position), and applied ones change content.
    assert.equal(new Set(roots1).size, roots1.length)
    assert.deepEqual(
      r1.receipts.map((r) => r.reason ?? r.status),
      ['applied', 'applied', 'applied', 'not-owner', 'applied', 'applied', 'applied', 'replayed-nonce', 'undecryptable', 'applied', 'dataset-deleted', 'applied'],
    )
  })

  it('a replica in another process reaches the same roots', async () => {
    const inbox = await scenario()
    const roots = await replay(inbox, Replica.fromSecret(testBytes('cluster secret')))
    const entries = inbox.entries.map((e) => ({ ...e, index: String(e.index), epoch: String(e.epoch), blockNumber: String(e.blockNumber), timestamp: String(e.timestamp), ciphertext: bytesToHex(e.ciphertext) }))
    const script = `
      import { hexToBytes } from 'viem'
      import { Replica, testBytes } from ${JSON.stringify(new URL('./fixture.test.ts', import.meta.url).pathname)}
      import { stateRoot } from ${JSON.stringify(new URL('./state-root.ts', import.meta.url).pathname)}
      const entries = JSON.parse(process.env.ENTRIES)
      const r = Replica.fromSecret(testBytes('cluster secret'))
      const roots = []
      for (const e of entries) {
        await r.apply({ ...e, index: BigInt(e.index), epoch: BigInt(e.epoch), blockNumber: BigInt(e.blockNumber), timestamp: BigInt(e.timestamp), ciphertext: hexToBytes(e.ciphertext) })
        roots.push(stateRoot(r.state))
      }
      console.log(JSON.stringify(roots))`
    const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, ENTRIES: JSON.stringify(entries) }, encoding: 'utf8' })
    assert.equal(out.status, 0, out.stderr)
    assert.deepEqual(JSON.parse(out.stdout.trim().split('\n').pop()!), roots)
  })

  it('applies grant/revoke/policy/delete semantics', async () => {
    const inbox = await scenario()
    const r = Replica.fromSecret(testBytes('cluster secret'))
    await replay(inbox, r)
    const a = getDataset(r.state, registerCommand(owner.address, { salt: bytesToHex(testBytes('salt a')), dek: testBytes('dek a'), nonce: 0n, expiry: 0n }).datasetId)!
    assert.equal(a.owner, owner.address.toLowerCase())
    assert.deepEqual(a.dek, testBytes('dek a'))
    assert.equal(a.policy.k, 25)
    assert.deepEqual(a.policy.buyerDeny, [mallory.address.toLowerCase()])
    // The later grant replaced the first: uses 0 = unlimited (null); mallory's grant was revoked.
    assert.deepEqual([...a.grants.entries()], [[analyst.address.toLowerCase(), { expiresAt: 0n, usesLeft: null }]])
    const b = getDataset(r.state, registerCommand(mallory.address, { salt: bytesToHex(testBytes('salt b')), dek: testBytes('dek b'), nonce: 0n, expiry: 0n }).datasetId)!
    assert.equal(b.deleted, true)
    assert.equal(b.dek, null)
    const del = r.receipts[9]!
    assert.equal(del.type, 'Delete')
    assert.equal(del.unrecoverableAfterEpoch, 0n) // b was registered (sealed) in epoch 0
  })
})

describe('custody apply: a writer appends (web-analytics sites)', () => {
  it("the owner's SetWriter lets that key UpdateManifest and nothing else; snapshots keep the writer; the owner takes it back", async () => {
    const inbox = new TestInbox(testBytes('cluster secret'))
    const exp = inbox.timestamp() + 10_000n
    const ra = registerCommand(owner.address, { salt: bytesToHex(testBytes('salt w')), dek: testBytes('dek w'), nonce: 1n, expiry: exp })
    const writer = mallory // the ingest enclave's key, in the product
    await inbox.post(await signCommand(owner, ra.command), { dek: testBytes('dek w') })
    await inbox.post(await signCommand(writer, { type: 'UpdateManifest', message: { datasetId: ra.datasetId, manifestCid: 'bafy-before', nonce: 1n, expiry: exp } })) // not-owner: no writer yet
    await inbox.post(await signCommand(writer, { type: 'SetWriter', message: { datasetId: ra.datasetId, writer: writer.address, nonce: 2n, expiry: exp } })) // not-owner: only the owner names one
    await inbox.post(await signCommand(owner, { type: 'SetWriter', message: { datasetId: ra.datasetId, writer: writer.address, nonce: 2n, expiry: exp } }))
    await inbox.post(await signCommand(writer, { type: 'UpdateManifest', message: { datasetId: ra.datasetId, manifestCid: 'bafy-v2', nonce: 3n, expiry: exp } }))
    await inbox.post(await signCommand(writer, { type: 'Grant', message: { datasetId: ra.datasetId, grantee: writer.address, expiresAt: 0n, uses: 0, nonce: 4n, expiry: exp } })) // not-owner
    const r = Replica.fromSecret(testBytes('cluster secret'))
    await replay(inbox, r)
    assert.deepEqual(r.receipts.map((x) => (x.status === 'applied' ? 'applied' : x.reason)), ['applied', 'not-owner', 'not-owner', 'applied', 'applied', 'not-owner'])
    const d = getDataset(r.state, ra.datasetId)!
    assert.equal(d.manifestCid, 'bafy-v2')
    assert.equal(d.writer, writer.address.toLowerCase())
    assert.equal(d.grants.size, 0)
    const restored = decodeSnapshot(encodeSnapshot(r.state))
    assert.equal(getDataset(restored, ra.datasetId)!.writer, writer.address.toLowerCase())
    assert.equal(stateRoot(restored), stateRoot(r.state))
    const withWriter = stateRoot(r.state)
    await inbox.post(await signCommand(owner, { type: 'SetWriter', message: { datasetId: ra.datasetId, writer: '0x0000000000000000000000000000000000000000', nonce: 5n, expiry: exp } }))
    await inbox.post(await signCommand(writer, { type: 'UpdateManifest', message: { datasetId: ra.datasetId, manifestCid: 'bafy-v3', nonce: 6n, expiry: exp } })) // not-owner again
    await replay(inbox, r)
    assert.deepEqual(r.receipts.slice(-2).map((x) => (x.status === 'applied' ? 'applied' : x.reason)), ['applied', 'not-owner'])
    assert.equal(getDataset(r.state, ra.datasetId)!.writer, undefined)
    assert.equal(getDataset(r.state, ra.datasetId)!.manifestCid, 'bafy-v2')
    assert.notEqual(stateRoot(r.state), withWriter)
  })
})

describe('custody apply: a key rotation (a site rewritten after a visitor deletion)', () => {
  it('the writer replaces the key and manifest at once; the old key bytes are zeroed; a key that does not hash to keyHash or a stranger is refused', async () => {
    const inbox = new TestInbox(testBytes('cluster secret'))
    const exp = inbox.timestamp() + 10_000n
    const oldKey = testBytes('dek r')
    const newKey = testBytes('dek r2')
    const ra = registerCommand(owner.address, { salt: bytesToHex(testBytes('salt r')), dek: oldKey, nonce: 1n, expiry: exp })
    const writer = mallory
    await inbox.post(await signCommand(owner, ra.command), { dek: oldKey })
    await inbox.post(await signCommand(owner, { type: 'SetWriter', message: { datasetId: ra.datasetId, writer: writer.address, nonce: 2n, expiry: exp } }))
    const rotate = (keyHash: Hex, nonce: bigint) => ({ type: 'RotateKey' as const, message: { datasetId: ra.datasetId, manifestCid: 'bafy-rewritten', keyHash, nonce, expiry: exp } })
    await inbox.post(await signCommand(analyst, rotate(dekHash(newKey), 1n)), { dek: newKey }) // not-owner
    await inbox.post(await signCommand(writer, rotate(dekHash(newKey), 2n)), { dek: testBytes('another key') }) // dek-mismatch
    await inbox.post(await signCommand(writer, rotate(dekHash(newKey), 3n))) // dek-mismatch: no key travels
    inbox.mine(EPOCH_LENGTH) // the rotation is sealed to epoch 1
    const r = Replica.fromSecret(testBytes('cluster secret'))
    await replay(inbox, r)
    const held = getDataset(r.state, ra.datasetId)!.dek!
    await inbox.post(await signCommand(writer, rotate(dekHash(newKey), 4n)), { dek: newKey })
    await replay(inbox, r)
    assert.deepEqual(r.receipts.map((x) => (x.status === 'applied' ? 'applied' : x.reason)), ['applied', 'applied', 'not-owner', 'dek-mismatch', 'dek-mismatch', 'applied'])
    const last = r.receipts.at(-1)!
    assert.equal(last.type, 'RotateKey')
    assert.equal(last.unrecoverableAfterEpoch, 0n, 'the old key travelled in the register command, sealed to epoch 0')
    const d = getDataset(r.state, ra.datasetId)!
    assert.deepEqual(d.dek, newKey)
    assert.equal(d.dekHash, dekHash(newKey))
    assert.equal(d.manifestCid, 'bafy-rewritten')
    assert.equal(d.registeredEpoch, 1n)
    assert.ok(held.every((b) => b === 0), 'the old key bytes every older state shared are zeroed')
    const restored = decodeSnapshot(encodeSnapshot(r.state))
    assert.deepEqual(getDataset(restored, ra.datasetId)!.dek, newKey)
    assert.equal(stateRoot(restored), stateRoot(r.state))
  })
})

describe('custody apply: refusals', () => {
  type Case = { name: string; reason: RefusalReason; make: (inbox: TestInbox, ctx: { datasetId: Hex; exp: bigint; replica: Replica }) => Promise<InboxEntry> }
  const grant = (datasetId: Hex, nonce: bigint, expiry: bigint) => ({ type: 'Grant' as const, message: { datasetId, grantee: analyst.address, expiresAt: 0n, uses: 1, nonce, expiry } })
  const cases: Case[] = [
    { name: 'garbage ciphertext', reason: 'undecryptable', make: async (inbox) => inbox.postRaw(testBytes('junk', 200)) },
    {
      name: 'tampered ciphertext',
      reason: 'undecryptable',
      make: async (inbox, c) => {
        const ct = await inbox.seal(await signCommand(owner, grant(c.datasetId, 50n, c.exp)))
        ct[ct.length - 20]! ^= 1
        return inbox.postRaw(ct)
      },
    },
    {
      name: 'sealed to another inbox (aad)',
      reason: 'undecryptable',
      make: async (inbox, c) => inbox.postRaw(await inbox.seal(await signCommand(owner, grant(c.datasetId, 50n, c.exp)), { inbox: '0x0000000000000000000000000000000000000001' })),
    },
    {
      name: 'sealed to a future epoch',
      reason: 'undecryptable',
      make: async (inbox, c) => inbox.postRaw(await inbox.seal(await signCommand(owner, grant(c.datasetId, 50n, c.exp)), { sealEpoch: inbox.epoch + 1n }), inbox.epoch + 1n),
    },
    {
      name: 'sealed to a past epoch',
      reason: 'sealed-to-past-epoch',
      make: async (inbox, c) => inbox.post(await signCommand(owner, grant(c.datasetId, 50n, c.exp)), { sealEpoch: inbox.epoch - 1n }),
    },
    {
      name: 'a DEK riding along a Grant',
      reason: 'malformed',
      make: async (inbox, c) => inbox.post(await signCommand(owner, grant(c.datasetId, 50n, c.exp)), { dek: testBytes('extra') }),
    },
    {
      name: 'signed for another chain',
      reason: 'wrong-domain',
      make: async (inbox, c) => inbox.post(await signCommand(owner, grant(c.datasetId, 50n, c.exp), { ...DOMAIN, chainId: 1 })),
    },
    {
      name: 'wrong signer (mallory signs, claims owner)',
      reason: 'bad-signature',
      make: async (inbox, c) => inbox.post({ ...(await signCommand(mallory, grant(c.datasetId, 50n, c.exp))), signer: owner.address }),
    },
    {
      name: 'a field changed after signing',
      reason: 'bad-signature',
      make: async (inbox, c) => {
        const s = await signCommand(owner, grant(c.datasetId, 50n, c.exp))
        return inbox.post({ ...s, command: { type: 'Grant', message: { ...(s.command.message as ReturnType<typeof grant>['message']), uses: 1000 } } })
      },
    },
    { name: 'expired', reason: 'expired', make: async (inbox, c) => inbox.post(await signCommand(owner, grant(c.datasetId, 50n, inbox.timestamp()))) },
    {
      name: 'policy not matching policyHash',
      reason: 'policy-mismatch',
      make: async (inbox, c) =>
        inbox.post(await signCommand(owner, { type: 'SetPolicy', message: { datasetId: c.datasetId, policyHash: policyHash({ k: 3 }), nonce: 50n, expiry: c.exp } }), { policy: parsePolicy({ k: 4 }) }),
    },
    {
      name: 'DEK not matching sealedKeyHash',
      reason: 'dek-mismatch',
      make: async (inbox, c) => {
        const r = registerCommand(owner.address, { salt: bytesToHex(testBytes('salt z')), dek: testBytes('dek z'), nonce: 50n, expiry: c.exp })
        return inbox.post(await signCommand(owner, r.command), { dek: testBytes('other dek') })
      },
    },
    {
      name: 'dataset id not derived from the signer (front-running)',
      reason: 'bad-id-derivation',
      make: async (inbox, c) => {
        // Mallory copies the owner's salt and id: the id derives from the owner's address, not hers.
        const r = registerCommand(owner.address, { salt: bytesToHex(testBytes('salt new')), dek: testBytes('dek m'), nonce: 50n, expiry: c.exp })
        return inbox.post(await signCommand(mallory, r.command), { dek: testBytes('dek m') })
      },
    },
    {
      name: 'replayed ciphertext',
      reason: 'replayed-nonce',
      make: async (inbox, c) => {
        const first = await inbox.post(await signCommand(owner, grant(c.datasetId, 40n, c.exp)))
        assert.equal((await c.replica.apply(first)).status, 'applied')
        return inbox.postRaw(first.ciphertext.slice(), first.epoch) // anyone can re-post what they saw on chain
      },
    },
    {
      name: 'another command reusing a spent nonce',
      reason: 'replayed-nonce',
      make: async (inbox, c) => inbox.post(await signCommand(owner, { type: 'Revoke', message: { datasetId: c.datasetId, grantee: analyst.address, nonce: 2n, expiry: c.exp } })),
    },
    {
      name: 'register twice',
      reason: 'already-registered',
      make: async (inbox, c) => {
        const r = registerCommand(owner.address, { salt: bytesToHex(testBytes('salt a')), dek: testBytes('dek a2'), nonce: 50n, expiry: c.exp })
        return inbox.post(await signCommand(owner, r.command), { dek: testBytes('dek a2') })
      },
    },
    { name: 'unknown dataset', reason: 'unknown-dataset', make: async (inbox, c) => inbox.post(await signCommand(owner, grant(`0x${'77'.repeat(32)}`, 50n, c.exp))) },
    { name: 'not the owner', reason: 'not-owner', make: async (inbox, c) => inbox.post(await signCommand(mallory, grant(c.datasetId, 50n, c.exp))) },
  ]

  // Same epoch as the setup except where a case seals elsewhere: setup in epoch 0, cases in epoch 1.
  async function setup(): Promise<{ inbox: TestInbox; replica: Replica; datasetId: Hex; exp: bigint }> {
    const inbox = new TestInbox(testBytes('refusal secret'))
    const exp = inbox.timestamp() + 100_000n
    const r = registerCommand(owner.address, { salt: bytesToHex(testBytes('salt a')), dek: testBytes('dek a'), nonce: 1n, expiry: exp })
    await inbox.post(await signCommand(owner, r.command), { dek: testBytes('dek a') })
    await inbox.post(await signCommand(owner, grant(r.datasetId, 2n, exp)))
    inbox.mine(EPOCH_LENGTH)
    const replica = Replica.fromSecret(testBytes('refusal secret'), keeper)
    for (const e of inbox.entries) await replica.apply(e)
    return { inbox, replica, datasetId: r.datasetId, exp }
  }

  for (const c of cases) {
    it(`${c.name}: signed receipt '${c.reason}', nothing changed but the position`, async () => {
      const { inbox, replica, datasetId, exp } = await setup()
      const entry = await c.make(inbox, { datasetId, exp, replica })
      const before: CustodyState = replica.state
      const receipt = (await replica.apply(entry)) as SignedCustodyReceipt
      assert.equal(receipt.status, 'refused')
      assert.equal(receipt.reason, c.reason)
      await verifyReceipt(receipt, keeper.address)
      await assert.rejects(verifyReceipt(receipt, mallory.address), (e: unknown) => isW3aError(e, 'SIGNATURE_INVALID'))
      const p0 = stateRootParts(before)
      const p1 = stateRootParts(replica.state)
      assert.equal(p1.datasets, p0.datasets)
      assert.equal(p1.nonces, p0.nonces)
      assert.equal(p1.processed, p0.processed + 1n)
      // The root is exactly the old state moved by one entry.
      const moved = { ...before, processed: before.processed + 1n, head: nextInboxHead(before.head, entry), epoch: entry.blockNumber / EPOCH_LENGTH }
      assert.equal(receipt.stateRoot, stateRoot(moved))
      // The replica can go on applying afterwards (a valid command still works).
      const ok = await replica.apply(await inbox.post(await signCommand(owner, grant(datasetId, 99n, exp))))
      assert.equal(ok.status, 'applied')
    })
  }

  it('a replay of a command whose expiry has passed is refused as expired (its nonce was pruned)', async () => {
    const { inbox, replica, datasetId } = await setup()
    const shortExp = inbox.timestamp() + 30n
    const e1 = await inbox.post(await signCommand(owner, grant(datasetId, 60n, shortExp)))
    assert.equal((await replica.apply(e1)).status, 'applied')
    assert.equal(replica.state.usedNonces.get(owner.address.toLowerCase())!.has(60n), true)
    inbox.mine(10n) // 120 s later
    assert.equal((await replica.apply(inbox.postRaw(e1.ciphertext.slice(), e1.epoch))).reason, 'expired')
    // The owner's next command prunes the spent, expired nonce from state.
    assert.equal((await replica.apply(await inbox.post(await signCommand(owner, grant(datasetId, 61n, inbox.timestamp() + 1000n))))).status, 'applied')
    assert.equal(replica.state.usedNonces.get(owner.address.toLowerCase())!.has(60n), false)
  })
})

describe('custody apply: ordering', () => {
  it('an out-of-order index is an error, not a refusal, and applies nothing', async () => {
    const inbox = new TestInbox(testBytes('order'))
    const r = registerCommand(owner.address, { salt: bytesToHex(testBytes('s')), dek: testBytes('d'), nonce: 1n, expiry: inbox.timestamp() + 1000n })
    const e0 = await inbox.post(await signCommand(owner, r.command), { dek: testBytes('d') })
    const e1 = inbox.postRaw(testBytes('x', 100))
    const replica = Replica.fromSecret(testBytes('order'))
    const before = replica.state
    await assert.rejects(replica.apply(e1), (e: unknown) => isW3aError(e, 'CUSTODY_OUT_OF_ORDER'))
    assert.equal(replica.state, before)
    await replica.apply(e0)
    await assert.rejects(replica.apply(e0), (e: unknown) => isW3aError(e, 'CUSTODY_OUT_OF_ORDER')) // applied twice
    assert.equal(replica.state.processed, 1n)
  })

  it('an entry from an earlier epoch than the last applied one is an error', async () => {
    const inbox = new TestInbox(testBytes('order2'))
    inbox.mine(EPOCH_LENGTH)
    const e0 = inbox.postRaw(testBytes('x', 100))
    const replica = Replica.fromSecret(testBytes('order2'))
    await replica.apply(e0)
    const keyring = new EpochKeyring(0n, testBytes('order2'))
    const e1 = { ...e0, index: 1n, blockNumber: 5n }
    await assert.rejects(applyInboxEntry(replica.state, e1, { keyring, chainId: CHAIN_ID, inbox: INBOX, currentEpoch: 0n }), (e: unknown) => isW3aError(e, 'CUSTODY_OUT_OF_ORDER'))
  })

  it('a feed whose head does not continue the hash chain is an error', async () => {
    const inbox = new TestInbox(testBytes('order3'))
    const e0 = inbox.postRaw(testBytes('x', 100))
    const replica = Replica.fromSecret(testBytes('order3'))
    await assert.rejects(replica.apply({ ...e0, head: `0x${'12'.repeat(32)}` }), (e: unknown) => isW3aError(e, 'CUSTODY_OUT_OF_ORDER'))
    await replica.apply({ ...e0, head: nextInboxHead(`0x${'00'.repeat(32)}`, e0) })
    assert.equal(replica.state.processed, 1n)
  })

  it('the keyring must be at the epoch of the entry block', async () => {
    const inbox = new TestInbox(testBytes('order4'))
    const e0 = inbox.postRaw(testBytes('x', 100))
    const keyring = new EpochKeyring(1n, testBytes('order4'))
    await assert.rejects(
      applyInboxEntry(Replica.fromSecret(testBytes('order4')).state, e0, { keyring, chainId: CHAIN_ID, inbox: INBOX, currentEpoch: 0n }),
      (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'),
    )
  })
})
