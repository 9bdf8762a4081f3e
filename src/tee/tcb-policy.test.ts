import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { verifyDcapQuote } from './dcap.js'
import { verifyQuote } from './verify-quote.js'
import { checkTcbPolicy, describeTee, DEFAULT_TCB_POLICY, type TcbPolicy } from './tcb-policy.js'
import { isW3aError } from '../core/errors.js'
import { TEE_SAMPLES as SAMPLES } from '../../test/fixtures/tee-samples.js'

// Real Intel quotes + collateral (test/fixtures/tee-samples/README.md).
const quote = (name: string) => new Uint8Array(readFileSync(SAMPLES + name))
const collateral = (name: string): unknown => JSON.parse(readFileSync(SAMPLES + `${name}_collateral.json`, 'utf8'))
const SAMPLE_TIME = 1752105600 // 2025-07-10
const OUTDATED_TIME = 1773100800 // 2026-03-10
const DAY = 24 * 3600

const tdx = await verifyDcapQuote(quote('tdx_quote'), { collateral: collateral('tdx_quote'), now: SAMPLE_TIME })
const sgx = await verifyDcapQuote(quote('sgx_quote'), { collateral: collateral('sgx_quote'), now: SAMPLE_TIME })

test('the samples are what the README says (the tests below rely on it)', () => {
  assert.equal(tdx.tcbStatus, 'UpToDate')
  assert.deepEqual(tdx.advisoryIds, [])
  assert.equal(sgx.tcbStatus, 'ConfigurationAndSWHardeningNeeded')
  assert.ok(sgx.advisoryIds.length > 0)
  assert.equal(tdx.verifiedAt, SAMPLE_TIME)
})

test('default policy: the UpToDate TDX quote is accepted at its time, the SGX one refused (status not allowed)', () => {
  assert.equal(checkTcbPolicy(tdx, DEFAULT_TCB_POLICY, SAMPLE_TIME), undefined)
  assert.equal(checkTcbPolicy(tdx, DEFAULT_TCB_POLICY, SAMPLE_TIME + 29 * DAY), undefined)
  const r = checkTcbPolicy(sgx, DEFAULT_TCB_POLICY, SAMPLE_TIME)
  assert.equal(r?.code, 'TCB_NOT_ALLOWED')
  assert.match(r!.message, /ConfigurationAndSWHardeningNeeded/)
})

test('a policy listing the SGX status and every one of its advisories accepts it; one advisory missing refuses it', () => {
  const policy: TcbPolicy = { ...DEFAULT_TCB_POLICY, advisoryStatuses: ['SWHardeningNeeded', 'ConfigurationAndSWHardeningNeeded'], advisoryIds: [...sgx.advisoryIds] }
  assert.equal(checkTcbPolicy(sgx, policy, SAMPLE_TIME), undefined)
  const missing = checkTcbPolicy(sgx, { ...policy, advisoryIds: sgx.advisoryIds.slice(1) }, SAMPLE_TIME)
  assert.equal(missing?.code, 'TCB_NOT_ALLOWED')
  assert.match(missing!.message, new RegExp(sgx.advisoryIds[0]!))
  // Listing the status as accepted outright accepts it whatever its advisories.
  assert.equal(checkTcbPolicy(sgx, { ...DEFAULT_TCB_POLICY, statuses: ['UpToDate', 'ConfigurationAndSWHardeningNeeded'] }, SAMPLE_TIME), undefined)
})

test('SWHardeningNeeded (default advisory status) passes only when every advisory is listed', () => {
  const hardening = { ...tdx, tcbStatus: 'SWHardeningNeeded', advisoryIds: ['INTEL-SA-00615'] }
  assert.equal(checkTcbPolicy(hardening, DEFAULT_TCB_POLICY, SAMPLE_TIME)?.code, 'TCB_NOT_ALLOWED')
  assert.equal(checkTcbPolicy(hardening, { ...DEFAULT_TCB_POLICY, advisoryIds: ['INTEL-SA-00615'] }, SAMPLE_TIME), undefined)
  for (const status of ['OutOfDate', 'OutOfDateConfigurationNeeded', 'ConfigurationNeeded', 'Revoked', 'uptodate']) {
    assert.equal(checkTcbPolicy({ ...tdx, tcbStatus: status }, DEFAULT_TCB_POLICY, SAMPLE_TIME)?.code, 'TCB_NOT_ALLOWED', status)
  }
})

test('too old: a verification or a registration older than maxQuoteAge is refused', () => {
  const r = checkTcbPolicy(tdx, DEFAULT_TCB_POLICY, SAMPLE_TIME + DEFAULT_TCB_POLICY.maxQuoteAge + 1)
  assert.equal(r?.code, 'ATTESTATION_TOO_OLD')
  assert.equal(checkTcbPolicy(tdx, { ...DEFAULT_TCB_POLICY, maxQuoteAge: 3600 }, SAMPLE_TIME + 3601)?.code, 'ATTESTATION_TOO_OLD')
  assert.equal(checkTcbPolicy(tdx, { ...DEFAULT_TCB_POLICY, maxQuoteAge: 3600 }, SAMPLE_TIME + 3600), undefined)
  // Verified just now, but registered long ago: the registration's quote is too old.
  const reg = checkTcbPolicy({ ...tdx, registeredAt: SAMPLE_TIME - 40 * DAY }, DEFAULT_TCB_POLICY, SAMPLE_TIME)
  assert.equal(reg?.code, 'ATTESTATION_TOO_OLD')
  assert.match(reg!.message, /registered/)
})

test('sim quotes are not judged by the TCB policy (allowSim gates them)', () => {
  assert.equal(checkTcbPolicy({ teeType: 'sim', tcbStatus: 'Simulated', advisoryIds: [], verifiedAt: 0 }, DEFAULT_TCB_POLICY, SAMPLE_TIME), undefined)
  assert.equal(describeTee('sim', 'Simulated'), 'sim (dev)')
  assert.equal(describeTee('tdx', 'UpToDate'), 'tdx UpToDate')
})

test('verifyQuote applies the policy: default refuses SGX and an old verification; the registry policy is honoured', async () => {
  const sgxPolicy = { allowSim: false, collateral: collateral('sgx_quote'), now: SAMPLE_TIME, currentTime: SAMPLE_TIME }
  await assert.rejects(verifyQuote(quote('sgx_quote'), sgxPolicy), (e) => isW3aError(e, 'TCB_NOT_ALLOWED'))
  const listed = { ...DEFAULT_TCB_POLICY, advisoryStatuses: ['ConfigurationAndSWHardeningNeeded'], advisoryIds: [...sgx.advisoryIds] }
  assert.equal((await verifyQuote(quote('sgx_quote'), { ...sgxPolicy, tcb: listed })).tcbStatus, 'ConfigurationAndSWHardeningNeeded')
  const tdxPolicy = { allowSim: false, collateral: collateral('tdx_quote'), now: SAMPLE_TIME }
  assert.equal((await verifyQuote(quote('tdx_quote'), { ...tdxPolicy, currentTime: SAMPLE_TIME + 60 })).tcbStatus, 'UpToDate')
  // Collateral valid only in the past: verifying "as of then" is refused against the real clock.
  await assert.rejects(verifyQuote(quote('tdx_quote'), tdxPolicy), (e) => isW3aError(e, 'ATTESTATION_TOO_OLD'))
  await assert.rejects(verifyQuote(quote('tdx_quote'), { ...tdxPolicy, currentTime: SAMPLE_TIME }, { registeredAt: SAMPLE_TIME - 31 * DAY }), (e) => isW3aError(e, 'ATTESTATION_TOO_OLD'))
})

test('the outdated TDX sample stays refused, whatever the policy', async () => {
  const anything: TcbPolicy = { statuses: ['UpToDate', 'OutOfDate', 'OutOfDateConfigurationNeeded'], advisoryStatuses: [], advisoryIds: [], maxQuoteAge: 1e9 }
  await assert.rejects(
    verifyQuote(quote('tdx_quote_outdated'), { allowSim: false, collateral: collateral('tdx_quote_outdated'), now: OUTDATED_TIME, currentTime: OUTDATED_TIME, tcb: anything }),
    (e) => isW3aError(e, 'ATTESTATION_INVALID') || isW3aError(e, 'TCB_NOT_ALLOWED'),
  )
})
