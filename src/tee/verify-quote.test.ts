import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { keccak256, toHex } from 'viem'
import { createSimEnclave } from './sim.js'
import { detectQuoteFormat } from './quote-format.js'
import { verifyQuote, verifyWorkerQuote } from './verify-quote.js'
import { workerReportData } from './report-data.js'
import { isW3aError } from '../core/errors.js'
import { TEE_SAMPLES as SAMPLES } from '../../test/fixtures/tee-samples.js'

const tdx = new Uint8Array(readFileSync(SAMPLES + 'tdx_quote'))
const tdxCol: unknown = JSON.parse(readFileSync(SAMPLES + 'tdx_quote_collateral.json', 'utf8'))
const SAMPLE_TIME = 1752105600

const dir = mkdtempSync(join(tmpdir(), 'w3a-vq-'))
const measurement = keccak256(toHex('worker bundle'))
const enclave = createSimEnclave({ measurement, platformSecretFile: join(dir, 'p.key') })
const worker = '0x00000000000000000000000000000000000000a1' as const
const registry = '0x00000000000000000000000000000000000000b2' as const
const hpkePublicKey = new Uint8Array(32).fill(3)
const keys = { worker, hpkePublicKey, chainId: 31337, registry }

test('dispatch: sim magic vs DCAP header version; anything else is refused', async () => {
  const sim = await enclave.quote(workerReportData(keys))
  assert.equal(detectQuoteFormat(sim), 'sim')
  assert.equal(detectQuoteFormat(tdx), 'dcap')
  assert.equal((await verifyQuote(sim, { allowSim: true })).teeType, 'sim')
  assert.equal((await verifyQuote(tdx, { allowSim: false, collateral: tdxCol, now: SAMPLE_TIME, currentTime: SAMPLE_TIME })).teeType, 'tdx')
  for (const junk of [new Uint8Array(0), new Uint8Array([9, 0, 0, 0, 0]), new TextEncoder().encode('W3AX' + 'x'.repeat(200))]) {
    await assert.rejects(verifyQuote(junk, { allowSim: true }), (e) => isW3aError(e, 'ATTESTATION_INVALID'))
  }
})

test('production policy refuses sim; a DCAP quote without collateral is a usage error', async () => {
  const sim = await enclave.quote(workerReportData(keys))
  await assert.rejects(verifyQuote(sim, { allowSim: false }), (e) => isW3aError(e, 'SIM_NOT_ALLOWED'))
  await assert.rejects(verifyQuote(tdx, { allowSim: false }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
})

test('allow-list: enforced when given (sim and tdx), case-insensitive, absent = not enforced', async () => {
  const sim = await enclave.quote(workerReportData(keys))
  const other = keccak256(toHex('other bundle'))
  await assert.rejects(verifyQuote(sim, { allowSim: true, allowedMeasurements: [other] }), (e) => isW3aError(e, 'MEASUREMENT_NOT_ALLOWED'))
  await assert.rejects(verifyQuote(sim, { allowSim: true, allowedMeasurements: [] }), (e) => isW3aError(e, 'MEASUREMENT_NOT_ALLOWED'))
  const ok = await verifyQuote(sim, { allowSim: true, allowedMeasurements: [other, measurement.toUpperCase().replace('0X', '0x') as `0x${string}`] })
  assert.equal(ok.measurement, measurement)
  const tdxPolicy = { allowSim: false, collateral: tdxCol, now: SAMPLE_TIME, currentTime: SAMPLE_TIME }
  const m = (await verifyQuote(tdx, tdxPolicy)).measurement
  await assert.rejects(verifyQuote(tdx, { ...tdxPolicy, allowedMeasurements: [measurement] }), (e) => isW3aError(e, 'MEASUREMENT_NOT_ALLOWED'))
  assert.equal((await verifyQuote(tdx, { ...tdxPolicy, allowedMeasurements: [m] })).measurement, m)
})

test('verifyWorkerQuote: the quote must bind exactly this worker, key, chain and registry', async () => {
  const sim = await enclave.quote(workerReportData(keys))
  const v = await verifyWorkerQuote(sim, { allowSim: true }, keys)
  assert.equal(v.measurement, measurement)
  const wrong = [
    { ...keys, worker: '0x00000000000000000000000000000000000000c3' as const },
    { ...keys, hpkePublicKey: new Uint8Array(32).fill(4) },
    { ...keys, chainId: 1 },
    { ...keys, registry: '0x00000000000000000000000000000000000000d4' as const },
  ]
  for (const w of wrong) await assert.rejects(verifyWorkerQuote(sim, { allowSim: true }, w), (e) => isW3aError(e, 'REPORT_DATA_MISMATCH'))
  // The real TDX sample binds someone else's data: refused as a W3A worker quote.
  await assert.rejects(verifyWorkerQuote(tdx, { allowSim: false, collateral: tdxCol, now: SAMPLE_TIME, currentTime: SAMPLE_TIME }, keys), (e) => isW3aError(e, 'REPORT_DATA_MISMATCH'))
})

test('swapping report data into a valid sim quote breaks its signature', async () => {
  const sim = await enclave.quote(workerReportData(keys))
  const forged = sim.slice()
  forged.set(workerReportData({ ...keys, worker: '0x00000000000000000000000000000000000000e5' }), 40)
  await assert.rejects(verifyQuote(forged, { allowSim: true }), (e) => isW3aError(e, 'ATTESTATION_INVALID'))
})

test.after(() => rmSync(dir, { recursive: true, force: true }))

test('simMeasurements: a sim quote must be listed; tdx quotes are not judged by it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'w3a-simm-'))
  const listed = keccak256(toHex('listed'))
  const rd = new Uint8Array(64)
  const ok = await createSimEnclave({ measurement: listed, platformSecretFile: join(dir, 'p.key') }).quote(rd)
  const other = await createSimEnclave({ measurement: keccak256(toHex('other')), platformSecretFile: join(dir, 'p.key') }).quote(rd)
  assert.equal((await verifyQuote(ok, { allowSim: true, simMeasurements: [listed] })).measurement, listed)
  await assert.rejects(verifyQuote(other, { allowSim: true, simMeasurements: [listed] }), (e) => isW3aError(e, 'MEASUREMENT_NOT_ALLOWED'))
  const tdxPolicy = { allowSim: false, collateral: tdxCol, now: SAMPLE_TIME, currentTime: SAMPLE_TIME, simMeasurements: [listed] }
  assert.equal((await verifyQuote(tdx, tdxPolicy)).teeType, 'tdx')
  rmSync(dir, { recursive: true, force: true })
})
