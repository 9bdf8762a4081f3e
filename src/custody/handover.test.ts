import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex, type Address } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { generateHpkeKeyPair } from '../crypto/hpke.js'
import { CHAIN_ID, EPOCH_LENGTH, INBOX, Replica, TestInbox, registerCommand, signCommand, testBytes } from './fixture.test.js'
import { createHandoverRequest, createHandoverResponse, handoverToJson, openHandoverResponse, verifyHandoverRequest } from './handover.js'
import { stateRoot } from './state-root.js'

const owner = privateKeyToAccount(bytesToHex(testBytes('owner')))
const oldKeeper = privateKeyToAccount(bytesToHex(testBytes('keeper 1')))
const newKeeper = privateKeyToAccount(bytesToHex(testBytes('keeper 2')))
const mallory = privateKeyToAccount(bytesToHex(testBytes('mallory')))
const quote = testBytes('a quote', 169)
const NOW = 1_750_000_000

async function history(): Promise<TestInbox> {
  const inbox = new TestInbox(testBytes('handover'))
  const exp = inbox.timestamp() + 100_000n
  for (let i = 0; i < 6; i++) {
    const r = registerCommand(owner.address, { salt: bytesToHex(testBytes(`hs ${i}`)), dek: testBytes(`hd ${i}`), nonce: BigInt(i), expiry: exp })
    await inbox.post(await signCommand(owner, r.command), { dek: testBytes(`hd ${i}`) })
    if (i === 2) inbox.mine(EPOCH_LENGTH)
  }
  return inbox
}

const accept = async (seen: { worker?: Address; quote?: Uint8Array; pub?: Uint8Array }) => (worker: Address, q: Uint8Array, pub: Uint8Array) => {
  Object.assign(seen, { worker, quote: q, pub })
  return true
}

describe('keeper hand-over', () => {
  it('round trip: the newcomer continues the replay with the same root', async () => {
    const inbox = await history()
    const old = Replica.fromSecret(testBytes('handover'), oldKeeper)
    for (const e of inbox.entries.slice(0, 4)) await old.apply(e)

    const ephemeral = await generateHpkeKeyPair()
    const request = await createHandoverRequest({ identity: newKeeper, ephemeral, quote, chainId: CHAIN_ID, inbox: INBOX, now: NOW })
    // Over the wire as JSON.
    const wireReq = JSON.parse(JSON.stringify(handoverToJson(request)))
    const seen: { worker?: Address; quote?: Uint8Array; pub?: Uint8Array } = {}
    const verified = await verifyHandoverRequest(wireReq, await accept(seen), { chainId: CHAIN_ID, inbox: INBOX, now: NOW + 5 })
    assert.equal(seen.worker, newKeeper.address)
    assert.deepEqual(seen.quote, quote)
    assert.deepEqual(seen.pub, ephemeral.publicKey)
    const response = await createHandoverResponse({ keyring: old.keyring, state: old.state, nextIndex: old.state.processed, request: verified, signer: oldKeeper })
    const wireResp = JSON.parse(JSON.stringify(handoverToJson(response)))

    const priv = ephemeral.privateKey
    const opened = await openHandoverResponse(wireResp, priv, oldKeeper.address, request)
    assert.ok(priv.every((b) => b === 0), 'the ephemeral private key is erased after use')
    assert.equal(opened.nextIndex, 4n)
    assert.equal(opened.keyring.epoch, old.keyring.epoch)
    assert.equal(stateRoot(opened.state), stateRoot(old.state))

    const fresh = new Replica(opened.keyring, newKeeper)
    fresh.state = opened.state
    for (const e of inbox.entries.slice(4)) {
      await old.apply(e)
      await fresh.apply(e)
      assert.equal(stateRoot(fresh.state), stateRoot(old.state))
    }
    assert.equal(fresh.receipts.at(-1)!.status, 'applied')
  })

  it('refuses bad requests', async () => {
    const ephemeral = await generateHpkeKeyPair()
    const request = await createHandoverRequest({ identity: newKeeper, ephemeral, quote, chainId: CHAIN_ID, inbox: INBOX, now: NOW })
    const refused = (p: Promise<unknown>) => assert.rejects(p, (e: unknown) => isW3aError(e, 'HANDOVER_REFUSED'))
    const opts = { chainId: CHAIN_ID, inbox: INBOX, now: NOW }
    await refused(verifyHandoverRequest({ ...request, worker: mallory.address }, () => true, opts)) // signature by someone else
    await refused(verifyHandoverRequest({ ...request, ephemeralPublicKey: bytesToHex(testBytes('swap')) }, () => true, opts)) // key swapped in transit
    await refused(verifyHandoverRequest(request, () => false, opts)) // quote / measurement / role refused
    await refused(verifyHandoverRequest(request, () => { throw new Error('not a keeper') }, opts))
    await refused(verifyHandoverRequest(request, () => true, { ...opts, now: NOW + 3600 })) // stale
    await refused(verifyHandoverRequest(request, () => true, { ...opts, chainId: 1 }))
    await refused(verifyHandoverRequest({ hello: 1 }, () => true, opts))
    assert.equal((await verifyHandoverRequest(request, () => undefined, opts)).worker, newKeeper.address)
  })

  it('refuses a response from another keeper, for another request, or for another key', async () => {
    const inbox = await history()
    const old = Replica.fromSecret(testBytes('handover'), oldKeeper)
    for (const e of inbox.entries.slice(0, 2)) await old.apply(e)
    const ephemeral = await generateHpkeKeyPair()
    const request = await createHandoverRequest({ identity: newKeeper, ephemeral, quote, chainId: CHAIN_ID, inbox: INBOX, now: NOW })
    const response = await createHandoverResponse({ keyring: old.keyring, state: old.state, nextIndex: 2n, request, signer: oldKeeper })
    const refused = (p: Promise<unknown>) => assert.rejects(p, (e: unknown) => isW3aError(e, 'HANDOVER_REFUSED'))
    await refused(openHandoverResponse(response, ephemeral.privateKey.slice(), mallory.address))
    const forged = await createHandoverResponse({ keyring: old.keyring, state: old.state, nextIndex: 2n, request, signer: mallory })
    await refused(openHandoverResponse({ ...forged, from: oldKeeper.address }, ephemeral.privateKey.slice(), oldKeeper.address))
    await refused(openHandoverResponse({ ...response, stateRoot: `0x${'00'.repeat(32)}` }, ephemeral.privateKey.slice(), oldKeeper.address))
    const other = await createHandoverRequest({ identity: newKeeper, ephemeral: await generateHpkeKeyPair(), quote, chainId: CHAIN_ID, inbox: INBOX, now: NOW })
    await refused(openHandoverResponse(response, ephemeral.privateKey.slice(), oldKeeper.address, other))
    await refused(openHandoverResponse(response, (await generateHpkeKeyPair()).privateKey, oldKeeper.address))
    await assert.rejects(createHandoverResponse({ keyring: old.keyring, state: old.state, nextIndex: 3n, request, signer: oldKeeper }), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
  })
})
