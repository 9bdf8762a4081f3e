import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex, concat, keccak256, numberToHex, padHex, toHex } from 'viem'
import { workerReportData } from './report-data.js'
import { isW3aError } from '../core/errors.js'

const worker = '0x1111111111111111111111111111111111111111' as const
const registry = '0x2222222222222222222222222222222222222222' as const
const hpkePublicKey = new Uint8Array(32).fill(7)

test('report data = keccak256 of the ABI words of the protocol, then 32 zero bytes', () => {
  // Independent encoding: five 32-byte words, built by hand.
  const words = concat([
    padHex(toHex('w3a.worker.v1'), { size: 32, dir: 'right' }),
    padHex(worker, { size: 32 }),
    bytesToHex(hpkePublicKey),
    numberToHex(31337, { size: 32 }),
    padHex(registry, { size: 32 }),
  ])
  const rd = workerReportData({ worker, hpkePublicKey, chainId: 31337, registry })
  assert.equal(rd.length, 64)
  assert.equal(bytesToHex(rd.subarray(0, 32)), keccak256(words))
  assert.ok(rd.subarray(32).every((b) => b === 0))
})

test('every input changes the report data', () => {
  const base = bytesToHex(workerReportData({ worker, hpkePublicKey, chainId: 1, registry }))
  const variants = [
    { worker: registry, hpkePublicKey, chainId: 1, registry },
    { worker, hpkePublicKey: new Uint8Array(32).fill(8), chainId: 1, registry },
    { worker, hpkePublicKey, chainId: 2, registry },
    { worker, hpkePublicKey, chainId: 1, registry: worker },
  ]
  for (const v of variants) assert.notEqual(bytesToHex(workerReportData(v)), base)
})

test('bad inputs are refused', () => {
  assert.throws(() => workerReportData({ worker, hpkePublicKey: new Uint8Array(31), chainId: 1, registry }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
  assert.throws(() => workerReportData({ worker: '0x12' as `0x${string}`, hpkePublicKey, chainId: 1, registry }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
  assert.throws(() => workerReportData({ worker, hpkePublicKey, chainId: 0, registry }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
})
