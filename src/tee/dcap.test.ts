import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { bytesToHex, keccak256 } from 'viem'
import { verifyDcapQuote, dcapQuoteFields } from './dcap.js'
import { isW3aError, type W3aError } from '../core/errors.js'
import { TEE_SAMPLES as SAMPLES } from '../../test/fixtures/tee-samples.js'

// Real Intel quotes + collateral (test/fixtures/tee-samples/README.md).
const quote = (name: string) => new Uint8Array(readFileSync(SAMPLES + name))
const collateral = (name: string): unknown => JSON.parse(readFileSync(SAMPLES + `${name}_collateral.json`, 'utf8'))

const SAMPLE_TIME = 1752105600 // 2025-07-10
const OUTDATED_TIME = 1773100800 // 2026-03-10
const tdx = quote('tdx_quote')
const sgx = quote('sgx_quote')
const tdxCol = collateral('tdx_quote')
const sgxCol = collateral('sgx_quote')
const sha256 = (b: Uint8Array) => bytesToHex(createHash('sha256').update(b).digest())
const refused = (e: unknown) => isW3aError(e, 'ATTESTATION_INVALID') || isW3aError(e, 'ATTESTATION_EXPIRED')

test('TDX sample verifies at its collateral time: UpToDate, measurement and report data from the TD report', async () => {
  const v = await verifyDcapQuote(tdx, { collateral: tdxCol, now: SAMPLE_TIME })
  assert.equal(v.teeType, 'tdx')
  assert.equal(v.tcbStatus, 'UpToDate')
  assert.deepEqual(v.advisoryIds, [])
  // TD report at offset 48: MRTD @136, RTMR0..2 @328/376/424, report data @520 (Intel TDX DCAP layout).
  const td = (off: number, len: number) => tdx.subarray(48 + off, 48 + off + len)
  assert.equal(v.measurement, sha256(Buffer.concat([td(136, 48), td(328, 48), td(376, 48), td(424, 48)])))
  assert.equal(v.reportData, bytesToHex(td(520, 64)))
  assert.equal(v.quoteHash, keccak256(tdx))
  assert.deepEqual(dcapQuoteFields(tdx), { teeType: 'tdx', measurement: v.measurement, reportData: v.reportData })
})

test('SGX sample verifies at its collateral time: ConfigurationAndSWHardeningNeeded, measurement = MRENCLAVE', async () => {
  const v = await verifyDcapQuote(sgx, { collateral: sgxCol, now: SAMPLE_TIME })
  assert.equal(v.teeType, 'sgx')
  assert.equal(v.tcbStatus, 'ConfigurationAndSWHardeningNeeded')
  assert.ok(v.advisoryIds.length > 0, 'this TCB level carries advisories')
  assert.equal(v.measurement, bytesToHex(sgx.subarray(48 + 64, 48 + 96)))
  assert.equal(v.reportData, bytesToHex(sgx.subarray(48 + 320, 48 + 384)))
})

test('outdated TDX sample is refused (no matching TCB level)', async () => {
  await assert.rejects(
    verifyDcapQuote(quote('tdx_quote_outdated'), { collateral: collateral('tdx_quote_outdated'), now: OUTDATED_TIME }),
    (e: W3aError) => isW3aError(e, 'ATTESTATION_INVALID') && /No matching TCB level/.test(e.message),
  )
})

test('TDX and SGX samples are refused today: their collateral has expired', async () => {
  for (const [q, c] of [[tdx, tdxCol], [sgx, sgxCol]] as const) {
    await assert.rejects(verifyDcapQuote(q, { collateral: c }), (e: W3aError) => isW3aError(e, 'ATTESTATION_EXPIRED') && /expired/i.test(e.message))
  }
  // and before the collateral was issued
  await assert.rejects(verifyDcapQuote(tdx, { collateral: tdxCol, now: 1600000000 }), (e) => isW3aError(e, 'ATTESTATION_EXPIRED'))
})

test('collateral of another platform/type is refused', async () => {
  await assert.rejects(verifyDcapQuote(sgx, { collateral: tdxCol, now: SAMPLE_TIME }), (e) => isW3aError(e, 'ATTESTATION_INVALID'))
  await assert.rejects(verifyDcapQuote(tdx, { collateral: sgxCol, now: SAMPLE_TIME }), (e) => isW3aError(e, 'ATTESTATION_INVALID'))
})

test('collateral missing or malformed is a usage error', async () => {
  await assert.rejects(verifyDcapQuote(tdx, { collateral: undefined, now: SAMPLE_TIME }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
  await assert.rejects(verifyDcapQuote(tdx, { collateral: { tcb_info: 'x' }, now: SAMPLE_TIME }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
})

/** Offsets in every region of a quote: header, TD/enclave report (incl. measurement, report data), auth data, QE report, signatures, PCK chain, padding. */
function spread(q: Uint8Array, structural: number[]): number[] {
  const even = Array.from({ length: 40 }, (_, i) => Math.floor((i * (q.length - 1)) / 39))
  return [...new Set([...structural, ...even])].filter((p) => p < q.length).sort((a, b) => a - b)
}

test('TDX: a flipped byte anywhere is refused (header, body, report data, signatures, certificates, padding)', async () => {
  // header 0..47, MRTD 184, RTMR0 376, report data 568..631, auth size 632, quote signature 636, attestation key 700,
  // cert type 764, cert size 766, QE report 770, QE report data 770+320, QE signature 1154, QE auth 1220, PEM chain ~1300..4935, padding 4936..
  const positions = spread(tdx, [0, 1, 2, 4, 8, 10, 12, 28, 47, 48, 184, 376, 568, 599, 631, 632, 633, 636, 699, 700, 763, 764, 765, 766, 770, 1090, 1154, 1218, 1220, 1260, 1300, 3030, 3990, 4500, 4934, 4935, 4936, 5005])
  assert.ok(positions.length >= 60)
  for (const p of positions) {
    for (const x of [0x01, 0x80]) {
      const t = tdx.slice()
      t[p]! ^= x
      await assert.rejects(verifyDcapQuote(t, { collateral: tdxCol, now: SAMPLE_TIME }), refused, `flip ${x} at ${p} was accepted`)
    }
  }
})

test('SGX: a flipped byte anywhere is refused', async () => {
  // MRENCLAVE 112, report data 368..431, auth size 432, signature 436, QE report 564, PEM chain ~1050.., end 4599
  const positions = spread(sgx, [0, 2, 4, 8, 47, 48, 112, 143, 368, 400, 431, 432, 436, 500, 564, 884, 948, 1012, 1014, 1050, 1100, 3000, 4598, 4599])
  for (const p of positions) {
    const t = sgx.slice()
    t[p]! ^= 0x01
    await assert.rejects(verifyDcapQuote(t, { collateral: sgxCol, now: SAMPLE_TIME }), refused, `flip at ${p} was accepted`)
  }
})

test('truncated quotes, appended bytes and garbage are refused', async () => {
  for (const len of [0, 4, 47, 48, 631, 632, 636, 1000, 4935, 4936 - 1]) {
    await assert.rejects(verifyDcapQuote(tdx.subarray(0, len), { collateral: tdxCol, now: SAMPLE_TIME }), refused, `truncated to ${len} accepted`)
  }
  const longer = new Uint8Array(tdx.length + 1)
  longer.set(tdx)
  longer[tdx.length] = 1
  await assert.rejects(verifyDcapQuote(longer, { collateral: tdxCol, now: SAMPLE_TIME }), refused)
  const garbage = new Uint8Array(randomBytes(5006))
  garbage.set([4, 0, 2, 0, 0x81, 0, 0, 0])
  await assert.rejects(verifyDcapQuote(garbage, { collateral: tdxCol, now: SAMPLE_TIME }), refused)
  await assert.rejects(verifyDcapQuote(new Uint8Array(5006), { collateral: tdxCol, now: SAMPLE_TIME }), refused)
})

test('trailing zero padding is tolerated (real quotes carry it), so the sample still verifies with more of it', async () => {
  const padded = new Uint8Array(tdx.length + 16)
  padded.set(tdx)
  assert.equal((await verifyDcapQuote(padded, { collateral: tdxCol, now: SAMPLE_TIME })).tcbStatus, 'UpToDate')
})
