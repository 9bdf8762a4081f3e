import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hexToBytes, keccak256, toHex, type Address } from 'viem'
import { isW3aError } from '../core/errors.js'
import { networkConfigHash, networkMeasurement, networkPolicy, parseSimQuote, verifyWorkerQuote } from '../tee/index.js'
import { parseEnclaveBoot, simEnclaveFor, type EnclaveBoot } from './boot.js'
import { EnclaveService, type EnclaveInfo } from './service.js'

const work = mkdtempSync(join(tmpdir(), 'w3a-boot-'))
after(() => rmSync(work, { recursive: true, force: true }))
const code = keccak256(toHex('this build'))
let n = 0
const genuine = (): EnclaveBoot => ({
  dataDir: join(work, `w${n++}`),
  gatewayUrl: 'http://127.0.0.1:1',
  chainId: 31337,
  registry: '0x1111111111111111111111111111111111111111',
  inbox: '0x2222222222222222222222222222222222222222',
  jobs: '0x3333333333333333333333333333333333333333',
  epochLength: '50',
  allowSim: true,
})

/** Boots the real enclave service the way main.ts does, from what a host passes. */
async function boot(b: EnclaveBoot): Promise<EnclaveInfo> {
  const config = parseEnclaveBoot(b, code)
  const { backend } = simEnclaveFor({ config, codeMeasurement: code })
  return new EnclaveService(backend, config).init()
}

/** A verifier holding the genuine config: a peer enclave, or a keeper releasing a job. */
const verifier = parseEnclaveBoot(genuine(), code)
const check = (info: EnclaveInfo) =>
  verifyWorkerQuote(hexToBytes(info.quote), networkPolicy(verifier), { worker: info.address, hpkePublicKey: hexToBytes(info.hpkePublicKey), chainId: 31337, registry: verifier.registry })

test('the genuine enclave quotes H(code ‖ config hash), which a verifier with the genuine config accepts', async () => {
  const info = await boot(genuine())
  assert.equal(info.measurement, networkMeasurement({ codeMeasurement: code, configHash: networkConfigHash(verifier) }))
  assert.equal(parseSimQuote(hexToBytes(info.quote)).measurement, info.measurement)
  assert.equal((await check(info)).measurement, info.measurement)
})

test('a host that boots the enclave with allowSim flipped, an extra allowed measurement or another network gets a refused measurement', async () => {
  const genuineMeasurement = (await boot(genuine())).measurement
  const tampered: Partial<EnclaveBoot>[] = [
    { codeMeasurements: [code, keccak256(toHex('the host build'))] },
    { devAttestationSigner: '0x4444444444444444444444444444444444444444' },
    { epochLength: '5' },
    { jobs: '0x5555555555555555555555555555555555555555' },
  ]
  for (const t of tampered) {
    const info = await boot({ ...genuine(), ...t })
    assert.notEqual(info.measurement, genuineMeasurement, JSON.stringify(t))
    await assert.rejects(check(info), (e) => isW3aError(e, 'MEASUREMENT_NOT_ALLOWED'), JSON.stringify(t))
  }
  // allowSim off on a sim enclave: still a quote of another measurement, refused the same way.
  const off = await boot({ ...genuine(), allowSim: false })
  assert.notEqual(off.measurement, genuineMeasurement)
  await assert.rejects(check(off), (e) => isW3aError(e, 'MEASUREMENT_NOT_ALLOWED'))
})

test('the host cannot hand the enclave a policy, and an enclave with allowSim off refuses sim peers', async () => {
  assert.throws(() => parseEnclaveBoot({ ...genuine(), policy: { allowSim: true, allowedMeasurements: [] } }, code), (e) => isW3aError(e, 'INVALID_ARGUMENT') && /policy/.test(e.message))
  const strict = parseEnclaveBoot({ ...genuine(), allowSim: false }, code)
  const peer = await boot(genuine())
  await assert.rejects(
    verifyWorkerQuote(hexToBytes(peer.quote), networkPolicy(strict), { worker: peer.address as Address, hpkePublicKey: hexToBytes(peer.hpkePublicKey), chainId: 31337, registry: strict.registry }),
    (e) => isW3aError(e, 'SIM_NOT_ALLOWED'),
  )
})

test('default code allow-list is the enclave\'s own code; sealed state does not open under another config', async () => {
  assert.deepEqual(parseEnclaveBoot(genuine(), code).codeMeasurements, [code])
  const b = genuine()
  const first = await boot(b)
  assert.equal((await boot(b)).address, first.address, 'same config: the sealed identity opens again')
  await assert.rejects(boot({ ...b, allowSim: false }), (e) => isW3aError(e), 'another config: another sealing key')
})

test('a keeper releases no job to a worker booted with another config, even when its host says the measurement is allowed', async () => {
  const keeperBoot = genuine()
  const config = parseEnclaveBoot(keeperBoot, code)
  const keeper = new EnclaveService(simEnclaveFor({ config, codeMeasurement: code }).backend, config)
  await keeper.init()
  await keeper.bootstrapCluster({ epoch: 0n })
  const release = async (w: EnclaveInfo) => {
    const job = {
      id: 1n,
      status: 'open' as const,
      analyst: '0x6666666666666666666666666666666666666666' as Address,
      worker: w.address,
      datasetId: `0x${'77'.repeat(32)}` as const,
      analysisHash: `0x${'88'.repeat(32)}` as const,
      privacyParamsHash: `0x${'99'.repeat(32)}` as const,
      inputCidsHash: `0x${'aa'.repeat(32)}` as const,
      epsilonMicros: 0n,
    }
    // The host's word: eligible, measurement allowed. Only the quote check is the enclave's own.
    const worker = { address: w.address, hpkePublicKey: w.hpkePublicKey, isCompute: true, eligible: true, measurementAllowed: true }
    return keeper.releaseJob({ job, worker, quote: w.quote, sealedAnalysis: '0x00' })
  }
  const tampered = await boot({ ...genuine(), allowSim: false })
  const out = await release(tampered)
  assert.equal(out.ok, false)
  assert.equal(!out.ok && out.reason, 'measurement-not-allowed')
  // The genuine worker passes the quote check (and is refused later, for this made-up job).
  const fine = await release(await boot(genuine()))
  assert.ok(fine.ok || !['measurement-not-allowed', 'worker-not-attested'].includes(fine.reason), JSON.stringify(fine))
})
