import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bytesToHex, keccak256, recoverMessageAddress, toHex, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { keeperApprovalDigest } from '../chain/worker.js'
import { isW3aError } from '../core/errors.js'
import { attestIdentity, createEnclaveIdentity } from '../tee/identity.js'
import { createSimEnclave } from '../tee/sim.js'
import { dcapQuoteFields } from '../tee/dcap.js'
import { approveRegistration } from './registration-approval.js'
import { TEE_SAMPLES as SAMPLES } from '../../test/fixtures/tee-samples.js'

const dir = mkdtempSync(join(tmpdir(), 'w3a-approve-'))
const chainId = 31337
const registry = '0x00000000000000000000000000000000000000b2' as const
const measurement = keccak256(toHex('worker bundle'))
const keeper = privateKeyToAccount(generatePrivateKey())
const newcomer = await createEnclaveIdentity()
const att = await attestIdentity({ backend: createSimEnclave({ measurement, platformSecretFile: join(dir, 'p.key') }), identity: newcomer, chainId, registry })
const ownKey = bytesToHex(newcomer.hpke.publicKey)
const registration = { worker: newcomer.signer.address, teeType: 'sim' as const, measurement, hpkePublicKey: ownKey, roles: ['compute', 'keeper'] as const, quote: att.quote }
const dev = { allowSim: true }
const SAMPLE_TIME = 1752105600

test('approves a quote that binds the registered worker and HPKE key; the signature is over a digest naming that key', async () => {
  const a = await approveRegistration({ signer: keeper, policy: { ...dev, now: SAMPLE_TIME }, chainId, registry, registration })
  assert.equal(a.attestationHash, keccak256(att.quote))
  assert.equal(a.attestedAt, SAMPLE_TIME, 'the approval names when the keeper verified the quote')
  const digest = (hpkePublicKey: Hex) => keeperApprovalDigest({ chainId, registry, worker: newcomer.signer.address, measurement, hpkePublicKey, attestationHash: a.attestationHash, roles: ['compute', 'keeper'], attestedAt: a.attestedAt })
  assert.equal(await recoverMessageAddress({ message: { raw: digest(ownKey) }, signature: a.signature }), keeper.address)
  // The same signature does not approve another key.
  const planted = bytesToHex(new Uint8Array(32).fill(7))
  assert.notEqual(await recoverMessageAddress({ message: { raw: digest(planted) }, signature: a.signature }), keeper.address)
})

test('the attack: a registration whose HPKE key differs from the one in its quote is refused', async () => {
  const planted = bytesToHex(new Uint8Array(32).fill(7))
  await assert.rejects(approveRegistration({ signer: keeper, policy: dev, chainId, registry, registration: { ...registration, hpkePublicKey: planted } }), (e) => isW3aError(e, 'REPORT_DATA_MISMATCH'))
  await assert.rejects(approveRegistration({ signer: keeper, policy: dev, chainId: 1, registry, registration }), (e) => isW3aError(e, 'REPORT_DATA_MISMATCH'))
})

test('refuses another TEE type or measurement than the quote says, and sim on a production policy', async () => {
  await assert.rejects(approveRegistration({ signer: keeper, policy: dev, chainId, registry, registration: { ...registration, teeType: 'tdx' } }), (e) => isW3aError(e, 'ATTESTATION_INVALID'))
  await assert.rejects(
    approveRegistration({ signer: keeper, policy: dev, chainId, registry, registration: { ...registration, measurement: keccak256(toHex('other')) } }),
    (e) => isW3aError(e, 'ATTESTATION_INVALID'),
  )
  await assert.rejects(approveRegistration({ signer: keeper, policy: { allowSim: false }, chainId, registry, registration }), (e) => isW3aError(e, 'SIM_NOT_ALLOWED'))
})

test('real DCAP samples: TCB policy and age are applied before approving', async () => {
  const read = (n: string) => new Uint8Array(readFileSync(SAMPLES + n))
  const col = (n: string): unknown => JSON.parse(readFileSync(SAMPLES + `${n}_collateral.json`, 'utf8'))
  const sgx = read('sgx_quote')
  const sgxReg = { ...registration, teeType: 'sgx' as const, measurement: dcapQuoteFields(sgx).measurement, quote: sgx }
  await assert.rejects(
    approveRegistration({ signer: keeper, policy: { allowSim: false, collateral: col('sgx_quote'), now: SAMPLE_TIME, currentTime: SAMPLE_TIME }, chainId, registry, registration: sgxReg }),
    (e) => isW3aError(e, 'TCB_NOT_ALLOWED'),
  )
  const tdx = read('tdx_quote')
  const tdxReg = { ...registration, teeType: 'tdx' as const, measurement: dcapQuoteFields(tdx).measurement, quote: tdx }
  const tdxPolicy = { allowSim: false, collateral: col('tdx_quote'), now: SAMPLE_TIME }
  await assert.rejects(approveRegistration({ signer: keeper, policy: tdxPolicy, chainId, registry, registration: tdxReg }), (e) => isW3aError(e, 'ATTESTATION_TOO_OLD'))
  // UpToDate and fresh, but its report data is someone else's: not our worker's keys.
  await assert.rejects(approveRegistration({ signer: keeper, policy: { ...tdxPolicy, currentTime: SAMPLE_TIME }, chainId, registry, registration: tdxReg }), (e) => isW3aError(e, 'REPORT_DATA_MISMATCH'))
})

test.after(() => rmSync(dir, { recursive: true, force: true }))
