/**
 * Issue 8, points A and B, against the real enclave process (src/enclave/main.ts, which
 * measures its own code): a host that boots it with another network config gets another
 * measurement, refused by an enclave with the genuine config; a host that forges a keeper's
 * hand-over answer plants nothing; a genuine keeper process hands over, and the newcomer names
 * it from its quote. A keeper booted on a network that asks for three keepers releases nothing
 * while its host keeps it a set of one.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { hexToBytes, type Address, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { isW3aError, type W3aError } from '../src/core/errors.js'
import { EpochKeyring, createEmptyState, createHandoverResponse, createInitialSecret, handoverToJson, parseHandoverRequest } from '../src/custody/index.js'
import type { EnclaveBoot } from '../src/enclave/boot.js'
import { DEV_ATTESTATION_SIGNER } from '../src/tee/index.js'
import { commitState, startHostileHost, type HostileHost } from './hostile-host.js'

const REGISTRY: Address = '0x00000000000000000000000000000000000000cc'
let work: string
const hosts: HostileHost[] = []
let n = 0
const boot = (over: Partial<EnclaveBoot> = {}): EnclaveBoot => ({
  dataDir: join(work, `e${n++}`),
  gatewayUrl: 'http://127.0.0.1:1',
  chainId: 31337,
  registry: REGISTRY,
  inbox: '0x00000000000000000000000000000000000000dd',
  jobs: '0x00000000000000000000000000000000000000bb',
  epochLength: '100',
  allowSim: true,
  devAttestationSigner: DEV_ATTESTATION_SIGNER,
  ...over,
})
const start = async (over: Partial<EnclaveBoot> = {}) => {
  const h = await startHostileHost(boot(over))
  hosts.push(h)
  return h
}

let keeper: HostileHost
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'w3a-measured-'))
  keeper = await start()
  await keeper.call('bootstrapCluster', { epoch: 0n })
})
after(async () => {
  for (const h of hosts) await h.stop()
  await rm(work, { recursive: true, force: true })
})

test('a host that flips allowSim, adds a measurement or lowers the minimum keeper set gets another measurement, and a genuine keeper refuses it', async () => {
  const genuine = await start()
  assert.equal(genuine.info.measurement, keeper.info.measurement, 'same code, same config: same measurement')
  for (const over of [{ allowSim: false }, { codeMeasurements: [keeper.info.measurement, `0x${'ee'.repeat(32)}` as Hex] }, { minKeepers: 3 }]) {
    const tampered = await start(over)
    assert.notEqual(tampered.info.measurement, keeper.info.measurement, JSON.stringify(over))
    const request = await tampered.call('requestHandover')
    await assert.rejects(keeper.call('serveHandover', { request, newcomerIsKeeper: true }), (e) => isW3aError(e, 'HANDOVER_REFUSED') && /MEASUREMENT_NOT_ALLOWED/.test((e as W3aError).details.join('\n')))
  }
  // The host cannot pass a policy at all.
  await assert.rejects(startHostileHost({ ...boot(), policy: { allowSim: true } } as EnclaveBoot), (e) => isW3aError(e, 'INTERNAL') && /exited during start/.test((e as Error).message))
})

test('a forged hand-over answer (host key, host-chosen secret, no valid quote) is refused and the keyring stays empty', async () => {
  const newcomer = await start()
  const request = parseHandoverRequest(await newcomer.call('requestHandover'))
  const signer = privateKeyToAccount(generatePrivateKey())
  const forged = await createHandoverResponse({
    keyring: new EpochKeyring(0n, createInitialSecret()),
    state: createEmptyState(),
    nextIndex: 0n,
    request,
    signer,
    quote: hexToBytes(keeper.info.quote), // the genuine keeper's quote, relayed: it binds another key
    hpkePublicKey: hexToBytes(keeper.info.hpkePublicKey),
  })
  await assert.rejects(newcomer.call('receiveHandover', { response: handoverToJson(forged), from: keeper.info.address }), (e) => isW3aError(e, 'HANDOVER_REFUSED'))
  assert.equal(await newcomer.call('hasClusterSecret'), false)
})

test('a genuine keeper process hands over; the newcomer names it from its quote', async () => {
  const newcomer = await start()
  const request = await newcomer.call('requestHandover')
  const response = await keeper.call('serveHandover', { request, newcomerIsKeeper: true })
  const out = await newcomer.call<{ from: Address; epoch: bigint }>('receiveHandover', { response })
  assert.equal(out.from, keeper.info.address)
  assert.deepEqual(await newcomer.call('epochPublicKey'), await keeper.call('epochPublicKey'))
})

test('a keeper on a network that asks for three keepers, whose host hides every other keeper, releases nothing alone', async () => {
  const lone = await start({ minKeepers: 3 })
  await lone.call('bootstrapCluster', { epoch: 0n })
  // Alone it is its own witness: its state is committed, so only the set size stands in the way.
  assert.equal((await commitState(lone, [])).committed, true)
  const worker = { address: lone.info.address, hpkePublicKey: lone.info.hpkePublicKey, isCompute: true, eligible: true, measurementAllowed: true }
  const job = { id: 1n, status: 'open', analyst: worker.address, worker: worker.address, datasetId: `0x${'01'.repeat(32)}`, inputCidsHash: `0x${'02'.repeat(32)}`, analysisHash: `0x${'03'.repeat(32)}`, privacyParamsHash: `0x${'04'.repeat(32)}`, epsilonMicros: 1n }
  const out = await lone.call<{ ok: boolean; reason?: string; retry?: boolean; sealed?: unknown }>('releaseJob', { job, worker, quote: lone.info.quote, sealedAnalysis: '0x00' })
  assert.deepEqual(out, { ok: false, reason: 'keeper-set-too-small', retry: true })
})
