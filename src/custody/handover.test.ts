import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { generateHpkeKeyPair } from '../crypto/hpke.js'
import { CHAIN_ID, EPOCH_LENGTH, INBOX, Replica, TestInbox, registerCommand, signCommand, testBytes } from './fixture.test.js'
import { createHandoverRequest, createHandoverResponse, handoverToJson, openHandoverResponse, verifyHandoverRequest, type HandoverPeer } from './handover.js'
import { stateRoot } from './state-root.js'

const owner = privateKeyToAccount(bytesToHex(testBytes('owner')))
const oldKeeper = privateKeyToAccount(bytesToHex(testBytes('keeper 1')))
const newKeeper = privateKeyToAccount(bytesToHex(testBytes('keeper 2')))
const mallory = privateKeyToAccount(bytesToHex(testBytes('mallory')))
const quote = testBytes('a quote', 169)
const keeperQuote = testBytes('the keeper quote', 169)
const newHpke = testBytes('newcomer hpke')
const oldHpke = testBytes('keeper hpke')
const NOW = 1_750_000_000
/** What the response needs from the serving keeper besides its keyring and state. */
const asKeeper = (signer = oldKeeper) => ({ signer, quote: keeperQuote, hpkePublicKey: oldHpke })
/** Stands in for the newcomer enclave's quote check: accepts only the keeper's quote binding the keeper's address and key. */
const genuineKeeper = (k: HandoverPeer) => k.worker === oldKeeper.address && bytesToHex(k.quote) === bytesToHex(keeperQuote) && bytesToHex(k.hpkePublicKey) === bytesToHex(oldHpke)

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

const accept = (seen: { peer?: HandoverPeer }) => (peer: HandoverPeer) => {
  seen.peer = peer
  return true
}

describe('keeper hand-over', () => {
  it('round trip: the newcomer continues the replay with the same root', async () => {
    const inbox = await history()
    const old = Replica.fromSecret(testBytes('handover'), oldKeeper)
    for (const e of inbox.entries.slice(0, 4)) await old.apply(e)

    const ephemeral = await generateHpkeKeyPair()
    const request = await createHandoverRequest({ identity: newKeeper, hpkePublicKey: newHpke, ephemeral, quote, chainId: CHAIN_ID, inbox: INBOX, now: NOW })
    // Over the wire as JSON.
    const wireReq = JSON.parse(JSON.stringify(handoverToJson(request)))
    const seen: { peer?: HandoverPeer } = {}
    const verified = await verifyHandoverRequest(wireReq, accept(seen), { chainId: CHAIN_ID, inbox: INBOX, now: NOW + 5 })
    assert.deepEqual(seen.peer, { worker: newKeeper.address, quote, hpkePublicKey: newHpke }, 'the keeper checks the quote against the keys the request signs')
    const response = await createHandoverResponse({ keyring: old.keyring, state: old.state, nextIndex: old.state.processed, request: verified, ...asKeeper() })
    const wireResp = JSON.parse(JSON.stringify(handoverToJson(response)))

    const priv = ephemeral.privateKey
    const checked: { peer?: HandoverPeer } = {}
    const opened = await openHandoverResponse({ response: wireResp, ephemeralPrivateKey: priv, request, checkKeeper: (k) => (checked.peer = k, genuineKeeper(k)) })
    assert.deepEqual(checked.peer, { worker: oldKeeper.address, quote: keeperQuote, hpkePublicKey: oldHpke }, "the newcomer checks the keeper's own quote")
    assert.equal(opened.from, oldKeeper.address)
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
    const request = await createHandoverRequest({ identity: newKeeper, hpkePublicKey: newHpke, ephemeral, quote, chainId: CHAIN_ID, inbox: INBOX, now: NOW })
    const refused = (p: Promise<unknown>) => assert.rejects(p, (e: unknown) => isW3aError(e, 'HANDOVER_REFUSED'))
    const opts = { chainId: CHAIN_ID, inbox: INBOX, now: NOW }
    await refused(verifyHandoverRequest({ ...request, worker: mallory.address }, () => true, opts)) // signature by someone else
    await refused(verifyHandoverRequest({ ...request, ephemeralPublicKey: bytesToHex(testBytes('swap')) }, () => true, opts)) // key swapped in transit
    await refused(verifyHandoverRequest({ ...request, hpkePublicKey: bytesToHex(testBytes('swap')) }, () => true, opts)) // identity key swapped
    await refused(verifyHandoverRequest({ ...request, quote: bytesToHex(keeperQuote) }, () => true, opts)) // quote swapped
    await refused(verifyHandoverRequest(request, () => false, opts)) // quote / measurement / role refused
    await refused(verifyHandoverRequest(request, () => { throw new Error('not a keeper') }, opts))
    await refused(verifyHandoverRequest(request, () => true, { ...opts, now: NOW + 3600 })) // stale
    await refused(verifyHandoverRequest(request, () => true, { ...opts, chainId: 1 }))
    await refused(verifyHandoverRequest({ hello: 1 }, () => true, opts))
    assert.equal((await verifyHandoverRequest(request, () => undefined, opts)).worker, newKeeper.address)
  })

  it('refuses a response whose sender the quote check refuses, for another request, or for another key', async () => {
    const inbox = await history()
    const old = Replica.fromSecret(testBytes('handover'), oldKeeper)
    for (const e of inbox.entries.slice(0, 2)) await old.apply(e)
    const ephemeral = await generateHpkeKeyPair()
    const request = await createHandoverRequest({ identity: newKeeper, hpkePublicKey: newHpke, ephemeral, quote, chainId: CHAIN_ID, inbox: INBOX, now: NOW })
    const response = await createHandoverResponse({ keyring: old.keyring, state: old.state, nextIndex: 2n, request, ...asKeeper() })
    const open = (r: unknown, req = request, key: Uint8Array = ephemeral.privateKey.slice()) => openHandoverResponse({ response: r, ephemeralPrivateKey: key, request: req, checkKeeper: genuineKeeper })
    const refused = (p: Promise<unknown>, detail: RegExp) => assert.rejects(p, (e: unknown) => isW3aError(e, 'HANDOVER_REFUSED') && e.details.some((d) => detail.test(d)))
    assert.equal((await open(response)).from, oldKeeper.address)
    // A host-made keeper: its own key and its own secret, with no quote the check accepts.
    const hostSecret = Replica.fromSecret(testBytes('the host chose this'), mallory)
    const forged = await createHandoverResponse({ keyring: hostSecret.keyring, state: hostSecret.state, nextIndex: 0n, request, signer: mallory, quote: testBytes('no quote'), hpkePublicKey: oldHpke })
    await refused(open(forged), /quote refused/)
    // ... relaying the genuine keeper's quote: it binds another address.
    await refused(open({ ...handoverToJson(forged), quote: bytesToHex(keeperQuote) }), /signed by the keeper it names/)
    const relayed = await createHandoverResponse({ keyring: hostSecret.keyring, state: hostSecret.state, nextIndex: 0n, request, ...asKeeper(mallory) })
    await refused(open(relayed), /quote refused/)
    // ... naming the genuine keeper as sender: the signature is not its.
    await refused(open({ ...forged, from: oldKeeper.address, quote: bytesToHex(keeperQuote) }), /signed by the keeper it names/)
    // The genuine response, altered: another quote, root, request or key.
    await refused(open({ ...response, quote: bytesToHex(testBytes('other quote', 169)) }), /signed by the keeper it names/)
    await refused(open({ ...response, stateRoot: `0x${'00'.repeat(32)}` }), /signed by the keeper it names/)
    const other = await createHandoverRequest({ identity: newKeeper, hpkePublicKey: newHpke, ephemeral: await generateHpkeKeyPair(), quote, chainId: CHAIN_ID, inbox: INBOX, now: NOW })
    await refused(open(response, other), /another request/)
    await refused(open(response, request, (await generateHpkeKeyPair()).privateKey), /does not open/)
    await assert.rejects(createHandoverResponse({ keyring: old.keyring, state: old.state, nextIndex: 3n, request, ...asKeeper() }), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
  })
})
