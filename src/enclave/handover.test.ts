/**
 * Hand-over between real enclave services (sim backends, in process), with the host as the
 * attacker: it carries the messages and may forge any of them, but holds no enclave key.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bytesToHex, hexToBytes, keccak256, toHex, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { isW3aError, type W3aError } from '../core/errors.js'
import { createSimEnclave, workerReportData } from '../tee/index.js'
import { EpochKeyring, createEmptyState, createHandoverResponse, handoverToJson, parseHandoverRequest, type HandoverRequest } from '../custody/index.js'
import { createInitialSecret } from '../custody/epoch-keys.js'
import { parseEnclaveBoot, simEnclaveFor, type EnclaveBoot } from './boot.js'
import { EnclaveService, type EnclaveInfo } from './service.js'

const work = mkdtempSync(join(tmpdir(), 'w3a-handover-'))
after(() => rmSync(work, { recursive: true, force: true }))
const code = keccak256(toHex('this build'))
let n = 0
const network = (over: Partial<EnclaveBoot> = {}): EnclaveBoot => ({
  dataDir: join(work, `e${n++}`),
  gatewayUrl: 'http://127.0.0.1:1',
  chainId: 31337,
  registry: '0x1111111111111111111111111111111111111111',
  inbox: '0x2222222222222222222222222222222222222222',
  jobs: '0x3333333333333333333333333333333333333333',
  epochLength: '50',
  allowSim: true,
  ...over,
})

async function enclave(over: Partial<EnclaveBoot> = {}): Promise<{ service: EnclaveService; info: EnclaveInfo }> {
  const config = parseEnclaveBoot(network(over), code)
  const service = new EnclaveService(simEnclaveFor({ config, codeMeasurement: code }).backend, config)
  return { service, info: await service.init() }
}

const keeper = await enclave()
await keeper.service.bootstrapCluster({ epoch: 3n })
const keeperEpochKey = await keeper.service.epochPublicKey()

/** A response of the host's making: its own key and a cluster secret it chose, with `quote` as the keeper quote. */
async function hostMade(request: unknown, quote: (address: Hex, hpke: Uint8Array) => Promise<Uint8Array>): Promise<{ response: Record<string, unknown>; secretKey: Hex }> {
  const req: HandoverRequest = parseHandoverRequest(request)
  const signer = privateKeyToAccount(generatePrivateKey())
  const hpkePublicKey = new Uint8Array(32).fill(9)
  const keyring = new EpochKeyring(3n, createInitialSecret())
  const secretKey = bytesToHex((await keyring.keyPair()).publicKey)
  const response = await createHandoverResponse({ keyring, state: createEmptyState(), nextIndex: 0n, request: req, signer, quote: await quote(signer.address, hpkePublicKey), hpkePublicKey })
  return { response: handoverToJson(response), secretKey }
}

const refusedBecause = (detail: RegExp) => (e: unknown) => isW3aError(e, 'HANDOVER_REFUSED') && (e as W3aError).details.some((d) => detail.test(d))

test('a host-made keeper with no valid quote cannot plant a cluster secret', async () => {
  const newcomer = await enclave()
  const { response } = await hostMade(await newcomer.service.requestHandover(), async () => hexToBytes(keccak256(toHex('not a quote'))))
  await assert.rejects(newcomer.service.receiveHandover({ response }), refusedBecause(/serving keeper's quote refused/))
  assert.equal(newcomer.service.hasClusterSecret(), false, 'the keyring stays empty')
})

test('a host-made keeper with a sim quote of a measurement not allowed is refused', async () => {
  const newcomer = await enclave()
  // The dev attestation key is public, so the host can quote its own key, for code the network never allowed.
  const rogue = createSimEnclave({ measurement: keccak256(toHex('host build')), platformSecretFile: join(work, 'rogue.key') })
  const req = await newcomer.service.requestHandover()
  const { response } = await hostMade(req, (worker, hpkePublicKey) => rogue.quote(workerReportData({ worker, hpkePublicKey, chainId: 31337, registry: '0x1111111111111111111111111111111111111111' })))
  await assert.rejects(newcomer.service.receiveHandover({ response }), refusedBecause(/MEASUREMENT_NOT_ALLOWED/))
  assert.equal(newcomer.service.hasClusterSecret(), false)
})

test('an enclave booted with another config (extra code allowed, allowSim off) and a genuine one do not trust each other', async () => {
  for (const over of [{ codeMeasurements: [code, keccak256(toHex('host build'))] as Hex[] }, { allowSim: false }]) {
    // The tampered enclave's quote, binding a host key, in a host-made response: refused by the genuine newcomer.
    const tamperedConfig = parseEnclaveBoot(network(over), code)
    const tampered = simEnclaveFor({ config: tamperedConfig, codeMeasurement: code }).backend
    const newcomer = await enclave()
    const { response } = await hostMade(await newcomer.service.requestHandover(), (worker, hpkePublicKey) => tampered.quote(workerReportData({ worker, hpkePublicKey, chainId: 31337, registry: tamperedConfig.registry })))
    await assert.rejects(newcomer.service.receiveHandover({ response }), refusedBecause(/MEASUREMENT_NOT_ALLOWED/), JSON.stringify(over))
    assert.equal(newcomer.service.hasClusterSecret(), false)
    // And a tampered enclave holding a secret does not hand it to a genuine newcomer either.
    const tamperedKeeper = await enclave(over)
    await tamperedKeeper.service.bootstrapCluster({ epoch: 3n })
    await assert.rejects(tamperedKeeper.service.serveHandover({ request: await newcomer.service.requestHandover(), newcomerIsKeeper: true }), (e) => isW3aError(e, 'HANDOVER_REFUSED'))
  }
})

test('the host cannot relay the genuine keeper quote under its own key, nor name the genuine keeper as sender', async () => {
  const newcomer = await enclave()
  const { response } = await hostMade(await newcomer.service.requestHandover(), async () => hexToBytes(keeper.info.quote))
  await assert.rejects(newcomer.service.receiveHandover({ response }), refusedBecause(/REPORT_DATA_MISMATCH/))
  const second = await hostMade(await newcomer.service.requestHandover(), async () => hexToBytes(keeper.info.quote))
  const named = { ...second.response, from: keeper.info.address, hpkePublicKey: keeper.info.hpkePublicKey }
  await assert.rejects(newcomer.service.receiveHandover({ response: named }), refusedBecause(/signed by the keeper it names/))
  assert.equal(newcomer.service.hasClusterSecret(), false)
})

test('a genuine keeper hands over; `from` is the address its quote binds, whatever the host would say', async () => {
  const newcomer = await enclave()
  const request = await newcomer.service.requestHandover()
  const response = await keeper.service.serveHandover({ request, newcomerIsKeeper: true })
  // Extra keys from the host are ignored: the RPC door takes the response only.
  const out = await newcomer.service.receiveHandover({ response, from: '0x000000000000000000000000000000000000dEaD' } as never)
  assert.equal(out.from, keeper.info.address)
  assert.equal(out.epoch, 3n)
  assert.deepEqual(await newcomer.service.epochPublicKey(), keeperEpochKey)
  // An answer is good for its own request only, and once.
  await assert.rejects(newcomer.service.receiveHandover({ response }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
})

test('the serving keeper decides on the quote itself: a newcomer of another config is refused even if the host vouches for it', async () => {
  for (const over of [{ allowSim: false }, { codeMeasurements: [code, keccak256(toHex('host build'))] as Hex[] }]) {
    const impostor = await enclave(over)
    const request = await impostor.service.requestHandover()
    // Old protocol: the host said { isKeeper: true, measurementAllowed: true } and the keeper believed it.
    await assert.rejects(keeper.service.serveHandover({ request, newcomerIsKeeper: true }), (e) => isW3aError(e, 'HANDOVER_REFUSED') && /MEASUREMENT_NOT_ALLOWED/.test((e as W3aError).details.join('\n')))
  }
  // A quote of a host key (not the newcomer's) in a genuine enclave's request: the signature no longer matches.
  const newcomer = await enclave()
  const request = parseHandoverRequest(await newcomer.service.requestHandover())
  await assert.rejects(keeper.service.serveHandover({ request: { ...handoverToJson(request), quote: keeper.info.quote }, newcomerIsKeeper: true }), (e) => isW3aError(e, 'HANDOVER_REFUSED'))
  // The chain's keeper role stays a gate the host can close, never open.
  await assert.rejects(keeper.service.serveHandover({ request: handoverToJson(request), newcomerIsKeeper: false }), (e) => isW3aError(e, 'HANDOVER_REFUSED'))
  assert.ok(await keeper.service.serveHandover({ request: handoverToJson(request), newcomerIsKeeper: true }))
})
