import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { keccak256, toHex } from 'viem'
import { readSealedFile, seal, unseal, writeSealedFile, SEALED_OVERHEAD } from './sealing.js'
import { createSimEnclave } from './sim.js'
import { isW3aError } from '../core/errors.js'

const dir = mkdtempSync(join(tmpdir(), 'w3a-seal-'))
const platform = join(dir, 'platform.key')
const keyFor = (bundle: string) => createSimEnclave({ measurement: keccak256(toHex(bundle)), platformSecretFile: platform }).sealingKey()
const label = 'w3a/test/secret/v1'
const secret = new TextEncoder().encode('the cluster secret')

test('round trip; layout "W3AS" v1, random nonce (two seals differ)', async () => {
  const key = await keyFor('A')
  const a = seal(key, secret, { label })
  const b = seal(key, secret, { label })
  assert.equal(a.length, secret.length + SEALED_OVERHEAD)
  assert.deepEqual([...a.subarray(0, 5)], [0x57, 0x33, 0x41, 0x53, 1])
  assert.notDeepEqual(a, b)
  assert.deepEqual(unseal(key, a, { label }), secret)
  assert.deepEqual(unseal(key, seal(key, new Uint8Array(0), { label }), { label }), new Uint8Array(0))
})

test('another measurement (other code) on the same platform cannot unseal', async () => {
  const sealed = seal(await keyFor('A'), secret, { label })
  const other = await keyFor('B')
  assert.throws(() => unseal(other, sealed, { label }), (e) => isW3aError(e, 'UNSEAL_FAILED'))
})

test('a flipped byte anywhere (header, nonce, ciphertext, tag) is detected', async () => {
  const key = await keyFor('A')
  const sealed = seal(key, secret, { label })
  for (let i = 0; i < sealed.length; i++) {
    const t = sealed.slice()
    t[i]! ^= 0x01
    assert.throws(() => unseal(key, t, { label }), (e) => isW3aError(e, 'UNSEAL_FAILED'), `flip at ${i} accepted`)
  }
  assert.throws(() => unseal(key, sealed.subarray(0, sealed.length - 1), { label }), (e) => isW3aError(e, 'UNSEAL_FAILED'))
  assert.throws(() => unseal(key, sealed.subarray(0, 10), { label }), (e) => isW3aError(e, 'UNSEAL_FAILED'))
})

test('a blob sealed under one label cannot be unsealed as another', async () => {
  const key = await keyFor('A')
  const state = seal(key, secret, { label: 'w3a/enclave/custody-state/v1' })
  assert.throws(() => unseal(key, state, { label: 'w3a/enclave/identity/v1' }), (e) => isW3aError(e, 'UNSEAL_FAILED'))
})

test('sealed files: mode 0600, atomic replace (no temp files left), read back; tamper on disk detected', async () => {
  const key = await keyFor('A')
  const file = join(dir, 'enclave', 'state.sealed')
  writeSealedFile(file, key, label, secret)
  writeSealedFile(file, key, label, new TextEncoder().encode('v2'))
  assert.equal(statSync(file).mode & 0o777, 0o600)
  assert.deepEqual(readdirSync(join(dir, 'enclave')), ['state.sealed'])
  assert.equal(new TextDecoder().decode(readSealedFile(file, key, label)), 'v2')
  assert.ok(!readFileSync(file).includes(Buffer.from('v2')), 'plaintext is not on disk')
  const bytes = readFileSync(file)
  bytes[bytes.length - 1]! ^= 1
  writeFileSync(file, bytes)
  assert.throws(() => readSealedFile(file, key, label), (e) => isW3aError(e, 'UNSEAL_FAILED'))
  assert.throws(() => readSealedFile(join(dir, 'missing'), key, label), (e) => isW3aError(e, 'INPUT_UNREADABLE'))
})

test('bad key sizes and empty labels are refused', () => {
  assert.throws(() => seal(new Uint8Array(16), secret, { label }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
  assert.throws(() => seal(new Uint8Array(32), secret, { label: '' }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
})

test.after(() => rmSync(dir, { recursive: true, force: true }))
