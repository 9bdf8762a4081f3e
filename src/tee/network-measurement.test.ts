import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { bytesToHex, concat, keccak256, numberToHex, padHex, toHex, type Hex } from 'viem'
import { canonicalNetworkConfig, networkConfigHash, networkMeasurement, networkPolicy, type NetworkConfig } from './network-measurement.js'
import { DEV_ATTESTATION_SIGNER } from './sim.js'
import { DEFAULT_TCB_POLICY } from './tcb-policy.js'
import { isW3aError } from '../core/errors.js'

const code = keccak256(toHex('bundle A'))
const otherCode = keccak256(toHex('bundle B'))
const genuine: NetworkConfig = {
  chainId: 31337,
  registry: '0x1111111111111111111111111111111111111111',
  inbox: '0x2222222222222222222222222222222222222222',
  jobs: '0x3333333333333333333333333333333333333333',
  epochLength: 50n,
  allowSim: false,
  devAttestationSigner: DEV_ATTESTATION_SIGNER,
  codeMeasurements: [code],
  tcb: { statuses: ['UpToDate'], advisoryStatuses: ['SWHardeningNeeded'], advisoryIds: [], maxQuoteAge: 86400 },
  minKeepers: 3,
}

test('config hash = keccak256 of the ABI encoding written in the header (independent encoding)', () => {
  // Dynamic ABI by hand: 14 head words (string, bytes32[] and string[] are offsets), then the tails in order.
  const word = (n: bigint | number) => numberToHex(BigInt(n), { size: 32 })
  const str = (t: string) => [word(t.length), padHex(toHex(t), { size: 32, dir: 'right' })] // strings here fit in one word
  const strings = (list: string[]) => {
    const enc = list.map(str)
    const offsets: Hex[] = []
    let at = 32 * list.length
    for (const e of enc) (offsets.push(word(at)), (at += 32 * e.length))
    return [word(list.length), ...offsets, ...enc.flat()]
  }
  const tails = [str('w3a/network-config/v2'), [word(1), code], strings(['UpToDate']), strings(['SWHardeningNeeded']), strings([])]
  const offsets: Hex[] = []
  let at = 14 * 32
  for (const t of tails) (offsets.push(word(at)), (at += 32 * t.length))
  const head = [
    offsets[0]!,
    word(31337),
    padHex(genuine.registry, { size: 32 }),
    padHex(genuine.inbox, { size: 32 }),
    padHex(genuine.jobs, { size: 32 }),
    word(50),
    word(0),
    padHex(DEV_ATTESTATION_SIGNER.toLowerCase() as Hex, { size: 32 }),
    offsets[1]!,
    offsets[2]!,
    offsets[3]!,
    offsets[4]!,
    word(86400),
    word(3),
  ]
  assert.equal(networkConfigHash(genuine), keccak256(concat([...head, ...tails.flat()])))
})

test('measurement = sha256("w3a/measurement/v1" ‖ code ‖ config hash)', () => {
  const configHash = networkConfigHash(genuine)
  const want = createHash('sha256').update('w3a/measurement/v1').update(Buffer.from(code.slice(2), 'hex')).update(Buffer.from(configHash.slice(2), 'hex')).digest()
  assert.equal(networkMeasurement({ codeMeasurement: code, configHash }), bytesToHex(want))
})

test('a host that flips allowSim, adds a measurement or changes any field gets another measurement', () => {
  const base = networkMeasurement({ codeMeasurement: code, configHash: networkConfigHash(genuine) })
  const variants: NetworkConfig[] = [
    { ...genuine, allowSim: true },
    { ...genuine, codeMeasurements: [code, otherCode] },
    { ...genuine, devAttestationSigner: '0x4444444444444444444444444444444444444444' },
    { ...genuine, chainId: 1 },
    { ...genuine, registry: genuine.inbox },
    { ...genuine, inbox: genuine.jobs },
    { ...genuine, jobs: genuine.registry },
    { ...genuine, epochLength: 51n },
    { ...genuine, tcb: { ...genuine.tcb, statuses: ['UpToDate', 'OutOfDate'] } },
    { ...genuine, tcb: { ...genuine.tcb, advisoryIds: ['INTEL-SA-00334'] } },
    { ...genuine, tcb: { ...genuine.tcb, maxQuoteAge: 86401 } },
    { ...genuine, tcb: DEFAULT_TCB_POLICY },
    { ...genuine, minKeepers: 1 },
  ]
  const seen = new Set([base])
  for (const v of variants) {
    const m = networkMeasurement({ codeMeasurement: code, configHash: networkConfigHash(v) })
    assert.ok(!seen.has(m), `variant ${JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? String(x) : x))} kept a measurement`)
    seen.add(m)
  }
  // The policy of the genuine config does not allow any of them.
  const allowed = networkPolicy(genuine).simMeasurements!
  assert.deepEqual(allowed, [base])
})

test('the hash is of the canonical form: order, case and duplicates of the code list do not matter', () => {
  const a = networkConfigHash({ ...genuine, codeMeasurements: [code, otherCode] })
  assert.equal(networkConfigHash({ ...genuine, codeMeasurements: [otherCode.toUpperCase().replace('0X', '0x') as Hex, code, code] }), a)
  assert.equal(networkConfigHash({ ...genuine, registry: genuine.registry.toUpperCase().replace('0X', '0x') as Hex }), networkConfigHash(genuine))
  assert.deepEqual(canonicalNetworkConfig({ ...genuine, codeMeasurements: [otherCode, code] }).codeMeasurements, [code, otherCode].sort())
  const tcb = { ...genuine.tcb, statuses: ['UpToDate', 'OutOfDate', 'UpToDate'] }
  assert.equal(networkConfigHash({ ...genuine, tcb }), networkConfigHash({ ...genuine, tcb: { ...tcb, statuses: ['OutOfDate', 'UpToDate'] } }))
})

test('the policy allows exactly the listed code under this config, and sim only if the config says so', () => {
  const two = { ...genuine, allowSim: true, codeMeasurements: [code, otherCode] }
  const h = networkConfigHash(two)
  const p = networkPolicy(two)
  assert.equal(p.allowSim, true)
  assert.equal(p.devAttestationSigner, DEV_ATTESTATION_SIGNER.toLowerCase())
  assert.deepEqual(new Set(p.simMeasurements), new Set([networkMeasurement({ codeMeasurement: code, configHash: h }), networkMeasurement({ codeMeasurement: otherCode, configHash: h })]))
  assert.ok(!p.simMeasurements!.includes(code), 'a bare code measurement is not a measurement of this network')
  assert.equal(networkPolicy(genuine).allowSim, false)
  assert.deepEqual(networkPolicy(genuine).tcb, genuine.tcb)
})

test('malformed configs are refused', () => {
  for (const bad of [
    { ...genuine, codeMeasurements: [] },
    { ...genuine, codeMeasurements: ['0x12' as Hex] },
    { ...genuine, chainId: 0 },
    { ...genuine, epochLength: 0n },
    { ...genuine, registry: '0x12' as Hex },
    { ...genuine, tcb: { ...genuine.tcb, maxQuoteAge: -1 } },
    { ...genuine, minKeepers: 0 },
    { ...genuine, minKeepers: 1.5 },
  ]) {
    assert.throws(() => networkConfigHash(bad), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
  }
})
