import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { hpkeSeal } from '../crypto/hpke.js'
import { EpochKeyring, epochKeyPair } from './epoch-keys.js'
import { CHAIN_ID, INBOX, registerCommand, signCommand, testBytes } from './fixture.test.js'
import { parsePolicy, policyHash } from './policy.js'
import { COMMAND_INFO, MAX_COMMAND_BYTES, commandAad, openCommand, sealCommand } from './sealed-command.js'

const owner = privateKeyToAccount(bytesToHex(testBytes('owner')))

describe('sealed commands', () => {
  it('round trip with the keyring and with the raw epoch key; the envelope carries DEK and policy', async () => {
    const ring = new EpochKeyring(4n, testBytes('sc'))
    const pub = await ring.publicKey()
    const dek = testBytes('dek')
    const reg = registerCommand(owner.address, { salt: bytesToHex(testBytes('salt')), dek, nonce: 1n, expiry: 123n })
    const signed = await signCommand(owner, reg.command)
    const ct = await sealCommand({ epochPublicKey: pub, epoch: 4n, chainId: CHAIN_ID, inbox: INBOX, signed, dek })
    const opened = await openCommand({ keyring: ring, epoch: 4n, chainId: CHAIN_ID, inbox: INBOX, ciphertext: ct })
    assert.deepEqual(opened.signed, signed)
    assert.deepEqual(opened.dek, dek)
    const raw = await openCommand({ epochPrivateKey: (await ring.keyPair()).privateKey, epoch: 4n, chainId: CHAIN_ID, inbox: INBOX, ciphertext: ct })
    assert.deepEqual(raw.signed, signed)

    const policy = parsePolicy({ k: 7 })
    const sp = await signCommand(owner, { type: 'SetPolicy', message: { datasetId: reg.datasetId, policyHash: policyHash(policy), nonce: 2n, expiry: 123n } })
    const ct2 = await sealCommand({ epochPublicKey: pub, epoch: 4n, chainId: CHAIN_ID, inbox: INBOX, signed: sp, policy })
    assert.deepEqual((await openCommand({ keyring: ring, epoch: 4n, chainId: CHAIN_ID, inbox: INBOX, ciphertext: ct2 })).policy, policy)
  })

  it('the aad binds chain, inbox and epoch', async () => {
    const s = testBytes('sc2')
    const pair = await epochKeyPair(s)
    const signed = await signCommand(owner, { type: 'Delete', message: { datasetId: `0x${'11'.repeat(32)}`, nonce: 1n, expiry: 5n } })
    const ct = await sealCommand({ epochPublicKey: pair.publicKey, epoch: 1n, chainId: CHAIN_ID, inbox: INBOX, signed })
    const open = (p: { epoch?: bigint; chainId?: number; inbox?: `0x${string}` }) =>
      openCommand({ epochPrivateKey: pair.privateKey, epoch: p.epoch ?? 1n, chainId: p.chainId ?? CHAIN_ID, inbox: p.inbox ?? INBOX, ciphertext: ct })
    assert.equal((await open({})).signed.signature, signed.signature)
    for (const p of [{ epoch: 2n }, { chainId: 1 }, { inbox: '0x0000000000000000000000000000000000000001' as const }]) {
      await assert.rejects(open(p), (e: unknown) => isW3aError(e, 'HPKE_OPEN_FAILED'))
    }
    assert.equal(commandAad(CHAIN_ID, INBOX, 1n).length, 96)
  })

  it('a sealed non-envelope is CUSTODY_MALFORMED; a wrong-size ciphertext does not open', async () => {
    const ring = new EpochKeyring(0n, testBytes('sc3'))
    const pub = await ring.publicKey()
    for (const body of ['not json', '{"v":1}', JSON.stringify({ v: 1, signed: { command: { type: 'Delete', message: {} }, domain: {}, signer: '0x', signature: '0x' } })]) {
      const { enc, ciphertext } = await hpkeSeal({ recipientPublicKey: pub, info: COMMAND_INFO, aad: commandAad(CHAIN_ID, INBOX, 0n) }, new TextEncoder().encode(body))
      const ct = new Uint8Array([...enc, ...ciphertext])
      await assert.rejects(openCommand({ keyring: ring, epoch: 0n, chainId: CHAIN_ID, inbox: INBOX, ciphertext: ct }), (e: unknown) => isW3aError(e, 'CUSTODY_MALFORMED'))
    }
    for (const ct of [new Uint8Array(10), new Uint8Array(MAX_COMMAND_BYTES + 1)]) {
      await assert.rejects(openCommand({ keyring: ring, epoch: 0n, chainId: CHAIN_ID, inbox: INBOX, ciphertext: ct }), (e: unknown) => isW3aError(e, 'HPKE_OPEN_FAILED'))
    }
  })
})
