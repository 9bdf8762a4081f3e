import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bytesToHex, concat, hashMessage, hexToBytes, keccak256, recoverAddress, stringToBytes, toHex, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { createSimEnclave, DEV_ATTESTATION_PRIVATE_KEY, DEV_ATTESTATION_SIGNER, parseSimQuote, SIM_WARNING, verifySimQuote } from './sim.js'
import { isW3aError } from '../core/errors.js'

const measurement = keccak256(toHex('bundle A'))
const dev = { allowSim: true }
const prod = { allowSim: false }
const dir = mkdtempSync(join(tmpdir(), 'w3a-sim-'))
const secretFile = join(dir, 'platform.key')
const rd = new Uint8Array(64).map((_, i) => i + 1)

test('the dev key is the published derivation and its address is the dev signer', () => {
  assert.equal(DEV_ATTESTATION_PRIVATE_KEY, keccak256(stringToBytes('w3a dev attestation key — insecure, public')))
  assert.equal(privateKeyToAccount(DEV_ATTESTATION_PRIVATE_KEY).address, DEV_ATTESTATION_SIGNER)
  assert.match(SIM_WARNING, /^SIMULATED TEE — NOT SECURE — dev networks only/)
})

test('sim quote: 169 bytes in the protocol layout, signature recoverable independently', async () => {
  const enclave = createSimEnclave({ measurement, platformSecretFile: secretFile })
  assert.equal(enclave.teeType, 'sim')
  assert.equal(enclave.insecure, true)
  assert.equal(await enclave.measurement(), measurement)
  const q = await enclave.quote(rd)
  assert.equal(q.length, 169)
  assert.deepEqual([...q.subarray(0, 8)], [0x57, 0x33, 0x41, 0x51, 1, 0, 0, 0])
  assert.equal(bytesToHex(q.subarray(8, 40)), measurement)
  assert.deepEqual(q.subarray(40, 104), rd)
  // toEthSignedMessageHash(keccak256(abi.encodePacked("W3A-SIM-QUOTE-v1", measurement, reportData)))
  const digest = keccak256(concat([stringToBytes('W3A-SIM-QUOTE-v1'), hexToBytes(measurement), rd]))
  assert.equal(await recoverAddress({ hash: hashMessage({ raw: digest }), signature: bytesToHex(q.subarray(104)) }), DEV_ATTESTATION_SIGNER)
  const v = await verifySimQuote(q, { ...dev, now: 1752105600 })
  assert.deepEqual(v, { teeType: 'sim', measurement, reportData: bytesToHex(rd), tcbStatus: 'Simulated', advisoryIds: [], verifiedAt: 1752105600, quoteHash: keccak256(q) })
  assert.deepEqual(parseSimQuote(q).measurement, measurement)
})

test('a production policy refuses any sim quote, even a perfect one', async () => {
  const q = await createSimEnclave({ measurement, platformSecretFile: secretFile }).quote(rd)
  await assert.rejects(verifySimQuote(q, prod), (e) => isW3aError(e, 'SIM_NOT_ALLOWED') && /[Pp]roduction networks never accept sim/.test(e.message))
})

test('a quote signed by another key is refused; so is the dev key when the network trusts another signer', async () => {
  const rogue = createSimEnclave({ measurement, platformSecretFile: secretFile, attestationPrivateKey: generatePrivateKey() })
  await assert.rejects(verifySimQuote(await rogue.quote(rd), dev), (e) => isW3aError(e, 'ATTESTATION_INVALID') && /not signed by the dev attestation key/.test(e.message))
  const q = await createSimEnclave({ measurement, platformSecretFile: secretFile }).quote(rd)
  const other = privateKeyToAccount(generatePrivateKey()).address
  await assert.rejects(verifySimQuote(q, { allowSim: true, devAttestationSigner: other }), (e) => isW3aError(e, 'ATTESTATION_INVALID'))
})

test('every single flipped byte of a sim quote is refused', async () => {
  const q = await createSimEnclave({ measurement, platformSecretFile: secretFile }).quote(rd)
  for (let i = 0; i < q.length; i++) {
    const t = q.slice()
    t[i]! ^= 0x01
    await assert.rejects(verifySimQuote(t, dev), (e) => isW3aError(e, 'ATTESTATION_INVALID'), `flip at ${i} accepted`)
  }
})

test('malleated (high-s) signature, wrong length, wrong magic/version are refused', async () => {
  const q = await createSimEnclave({ measurement, platformSecretFile: secretFile }).quote(rd)
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
  const s = BigInt(bytesToHex(q.subarray(136, 168)))
  const high = q.slice()
  high.set(hexToBytes(toHex(n - s, { size: 32 })), 136)
  high[168] = high[168] === 27 ? 28 : 27 // the same signature, other form: still recovers the dev key
  await assert.rejects(verifySimQuote(high, dev), (e) => isW3aError(e, 'ATTESTATION_INVALID') && /not canonical/.test(e.message))
  await assert.rejects(verifySimQuote(q.subarray(0, 168), dev), (e) => isW3aError(e, 'ATTESTATION_INVALID'))
  await assert.rejects(verifySimQuote(concat([q, new Uint8Array(1)]), dev), (e) => isW3aError(e, 'ATTESTATION_INVALID'))
  const v2 = q.slice()
  v2[4] = 2
  assert.throws(() => parseSimQuote(v2), /version/)
  await assert.rejects(createSimEnclave({ measurement, platformSecretFile: secretFile }).quote(new Uint8Array(32)), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
})

test('sealing key: platform secret made once (0600, 32 bytes); bound to measurement and platform', async () => {
  const file = join(dir, 'sub', 'p.key')
  const k1 = await createSimEnclave({ measurement, platformSecretFile: file }).sealingKey()
  assert.equal(statSync(file).mode & 0o777, 0o600)
  const secret = readFileSync(file)
  assert.equal(secret.length, 32)
  assert.equal(k1.length, 32)
  assert.deepEqual(await createSimEnclave({ measurement, platformSecretFile: file }).sealingKey(), k1)
  assert.deepEqual(readFileSync(file), secret, 'the secret is not re-created')
  const otherCode = await createSimEnclave({ measurement: keccak256(toHex('bundle B')), platformSecretFile: file }).sealingKey()
  assert.notDeepEqual(otherCode, k1)
  const otherMachine = await createSimEnclave({ measurement, platformSecretFile: join(dir, 'other.key') }).sealingKey()
  assert.notDeepEqual(otherMachine, k1)
  writeFileSync(join(dir, 'short.key'), new Uint8Array(5))
  await assert.rejects(createSimEnclave({ measurement, platformSecretFile: join(dir, 'short.key') }).sealingKey(), (e) => isW3aError(e, 'INPUT_MALFORMED'))
})

test('bad measurement is refused at creation', () => {
  assert.throws(() => createSimEnclave({ measurement: '0x1234' as Hex, platformSecretFile: secretFile }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
})

test.after(() => rmSync(dir, { recursive: true, force: true }))
