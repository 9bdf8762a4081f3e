import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bytesToHex, keccak256, recoverMessageAddress, toHex } from 'viem'
import { attestIdentity, createEnclaveIdentity, exportIdentity, importIdentity } from './identity.js'
import { createSimEnclave } from './sim.js'
import { readSealedFile, writeSealedFile } from './sealing.js'
import { verifyWorkerQuote } from './verify-quote.js'
import { hpkeOpen, hpkeSeal } from '../crypto/hpke.js'
import { isW3aError } from '../core/errors.js'

const dir = mkdtempSync(join(tmpdir(), 'w3a-id-'))
const registry = '0x00000000000000000000000000000000000000b2' as const
const measurement = keccak256(toHex('worker bundle'))

test('identities are random; export/import keeps both keys working', async () => {
  const a = await createEnclaveIdentity()
  const b = await createEnclaveIdentity()
  assert.notEqual(a.signer.address, b.signer.address)
  assert.notDeepEqual(a.hpke.publicKey, b.hpke.publicKey)
  const bytes = exportIdentity(a)
  assert.equal(bytes.length, 101)
  const back = importIdentity(bytes)
  assert.equal(back.signer.address, a.signer.address)
  const sig = await back.signer.signMessage({ message: 'hello' })
  assert.equal(await recoverMessageAddress({ message: 'hello', signature: sig }), a.signer.address)
  const { enc, ciphertext } = await hpkeSeal({ recipientPublicKey: a.hpke.publicKey }, new TextEncoder().encode('x'))
  assert.deepEqual(await hpkeOpen({ recipientPrivateKey: back.hpke.privateKey, enc }, ciphertext), new TextEncoder().encode('x'))
  assert.ok(!JSON.stringify(a).includes(bytesToHex(bytes.subarray(5, 37)).slice(2)), 'signer secret not on the identity object')
})

test('corrupted exports are refused', async () => {
  const bytes = exportIdentity(await createEnclaveIdentity())
  const flipPub = bytes.slice()
  flipPub[80]! ^= 1
  assert.throws(() => importIdentity(flipPub), (e) => isW3aError(e, 'INPUT_MALFORMED'))
  assert.throws(() => importIdentity(bytes.subarray(0, 100)), (e) => isW3aError(e, 'INPUT_MALFORMED'))
  const zeroKey = bytes.slice()
  zeroKey.fill(0, 5, 37)
  assert.throws(() => importIdentity(zeroKey), (e) => isW3aError(e, 'INPUT_MALFORMED'))
})

test('attestIdentity: quote binds this identity on this chain+registry; sealed identity survives a restart', async () => {
  const backend = createSimEnclave({ measurement, platformSecretFile: join(dir, 'p.key') })
  const id = await createEnclaveIdentity()
  const att = await attestIdentity({ backend, identity: id, chainId: 31337, registry })
  assert.equal(att.measurement, measurement)
  const keys = { worker: id.signer.address, hpkePublicKey: id.hpke.publicKey, chainId: 31337, registry }
  assert.equal((await verifyWorkerQuote(att.quote, { allowSim: true }, keys)).reportData, bytesToHex(att.reportData))
  const other = await createEnclaveIdentity()
  await assert.rejects(
    verifyWorkerQuote(att.quote, { allowSim: true }, { ...keys, worker: other.signer.address }),
    (e) => isW3aError(e, 'REPORT_DATA_MISMATCH'),
  )
  const file = join(dir, 'identity.sealed')
  writeSealedFile(file, await backend.sealingKey(), 'w3a/enclave/identity/v1', exportIdentity(id))
  const restarted = createSimEnclave({ measurement, platformSecretFile: join(dir, 'p.key') })
  assert.equal(importIdentity(readSealedFile(file, await restarted.sealingKey(), 'w3a/enclave/identity/v1')).signer.address, id.signer.address)
  const upgraded = createSimEnclave({ measurement: keccak256(toHex('modified bundle')), platformSecretFile: join(dir, 'p.key') })
  assert.throws(() => readSealedFile(file, Uint8Array.from(new Uint8Array(32)), 'w3a/enclave/identity/v1'), (e) => isW3aError(e, 'UNSEAL_FAILED'))
  await assert.rejects(async () => readSealedFile(file, await upgraded.sealingKey(), 'w3a/enclave/identity/v1'), (e) => isW3aError(e, 'UNSEAL_FAILED'))
})

test('a backend that returns a quote for other report data is caught', async () => {
  const honest = createSimEnclave({ measurement, platformSecretFile: join(dir, 'p.key') })
  const lying = { ...honest, quote: async () => honest.quote(new Uint8Array(64)) }
  await assert.rejects(attestIdentity({ backend: lying, identity: await createEnclaveIdentity(), chainId: 1, registry }), (e) => isW3aError(e, 'REPORT_DATA_MISMATCH'))
})

test.after(() => rmSync(dir, { recursive: true, force: true }))
