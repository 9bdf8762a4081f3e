// Mounts the attack of issue 8 point 5 on a real Anvil: a keeper registration whose on-chain
// HPKE key is not the key its quote binds. The owner-query path must refuse to seal to it
// (KEY_NOT_ATTESTED) before sending anything; an honest keeper is still queried.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { bytesToHex, keccak256, toHex, type Address, type Hex } from 'viem'
import { isW3aError } from '../core/errors.js'
import type { NetworkInfo } from '../core/network-info.js'
import {
  allowMeasurement,
  createChainClients,
  deployContracts,
  devAccount,
  registerWorker,
  w3aTokenAbi,
  workerPossessionDigest,
  type DeployContractsReturnType,
  type WriteClients,
} from '../chain/index.js'
import { startAnvil, type AnvilInstance } from '../chain/anvil.js'
import { attestIdentity, createEnclaveIdentity, createSimEnclave, DEV_ATTESTATION_SIGNER, type EnclaveIdentity } from '../tee/index.js'
import { readDatasetAccess } from './actions/custody/readDatasetAccess.js'
import type { W3aClient } from './client.js'
import { onlineKeepers } from './custody-channel.js'
import { networkTeePolicy, verifyKeeperKey } from './worker-attestation.js'

const M = keccak256(toHex('keeper bundle'))
const TOKEN = 10n ** 18n
const dir = mkdtempSync(join(tmpdir(), 'w3a-keeper-key-'))
let anvil: AnvilInstance
let governance: WriteClients
let d: DeployContractsReturnType
let client: W3aClient

/** A keeper's host: serves the quote at /v1/info and counts the owner queries it receives. */
type FakeKeeper = { identity: EnclaveIdentity; quote: Hex; url: string; queries: number; server: Server }
const keepers: FakeKeeper[] = []

async function fakeKeeper(): Promise<FakeKeeper> {
  const identity = await createEnclaveIdentity()
  const backend = createSimEnclave({ measurement: M, platformSecretFile: join(dir, `${identity.signer.address}.key`) })
  const att = await attestIdentity({ backend, identity, chainId: anvil.chainId, registry: d.workerRegistry })
  const k: FakeKeeper = { identity, quote: bytesToHex(att.quote), url: '', queries: 0, server: createServer() }
  k.server.on('request', (req, res) => {
    if (req.method === 'GET' && req.url === '/v1/info') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ quote: k.quote }))
    if (req.method === 'POST' && req.url === '/v1/custody/query') k.queries++
    res.writeHead(503).end('not a real keeper')
  })
  await new Promise<void>((r) => k.server.listen(0, '127.0.0.1', r))
  const addr = k.server.address()
  k.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`
  keepers.push(k)
  return k
}

async function register(k: FakeKeeper, teeType: 'sim' | 'tdx', hpkePublicKey: Hex): Promise<void> {
  await registerWorker(governance, {
    registry: d.workerRegistry,
    worker: k.identity.signer.address,
    teeType,
    measurement: M,
    hpkePublicKey,
    roles: ['keeper'],
    endpoint: k.url,
    quote: k.quote,
    attestedAt: Number((await governance.publicClient.getBlock({ blockTag: 'latest' })).timestamp),
    workerSignature: await k.identity.signer.sign!({ hash: workerPossessionDigest({ chainId: anvil.chainId, registry: d.workerRegistry, operator: governance.walletClient.account.address }) }),
  })
}

before(async () => {
  anvil = await startAnvil({ port: 0 })
  governance = createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account: devAccount(0) })
  d = await deployContracts({ ...governance, devAttestationSigner: DEV_ATTESTATION_SIGNER })
  const { request } = await governance.publicClient.simulateContract({
    address: d.token,
    abi: w3aTokenAbi,
    functionName: 'mint',
    args: [governance.walletClient.account.address, 10_000n * TOKEN],
    account: governance.walletClient.account,
  })
  await governance.publicClient.waitForTransactionReceipt({ hash: await governance.walletClient.writeContract(request) })
  await allowMeasurement(governance, { registry: d.workerRegistry, measurement: M })
  const { token, datasetRegistry, workerRegistry, custodyInbox, market, jobs, campaigns, storageMarket } = d
  const network: NetworkInfo = { name: 'test', chainId: anvil.chainId, rpcUrl: anvil.rpcUrl, contracts: { token, datasetRegistry, workerRegistry, custodyInbox, market, jobs, campaigns, storageMarket }, dev: true }
  client = { gateway: undefined as never, account: devAccount(1), network: async () => network }
})

after(async () => {
  for (const k of keepers) k.server.close()
  await anvil?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe("owner queries seal only to a keeper's attested HPKE key", () => {
  it('a registration whose on-chain HPKE key differs from its quote is refused before anything is sent', async () => {
    // Bootstrap: with no active keeper, governance alone registers a tdx keeper (keepers would
    // now have to approve the key itself). Its quote binds the enclave's key; the chain lists another.
    const liar = await fakeKeeper()
    const planted = bytesToHex(randomBytes(32))
    await register(liar, 'tdx', planted)
    const id = keccak256(toHex('some dataset'))
    await assert.rejects(readDatasetAccess(client, { id, keeper: liar.identity.signer.address }), (e) => {
      assert.ok(isW3aError(e, 'KEY_NOT_ATTESTED'), String(e))
      assert.ok(isW3aError(e.cause, 'REPORT_DATA_MISMATCH'), String(e.cause))
      return true
    })
    assert.equal(liar.queries, 0, 'no query was sealed to the planted key and sent')
  })

  it('an honest keeper passes the check and is queried; a host serving another quote is refused', async () => {
    const honest = await fakeKeeper()
    await register(honest, 'sim', bytesToHex(honest.identity.hpke.publicKey))
    const id = keccak256(toHex('some dataset'))
    await assert.rejects(readDatasetAccess(client, { id, keeper: honest.identity.signer.address }), (e) => isW3aError(e, 'GATEWAY_ERROR'))
    assert.equal(honest.queries, 1, 'the check passed: the query went out')

    const network = await client.network()
    const policy = await networkTeePolicy(governance.publicClient, network.contracts.workerRegistry)
    const listed = (await onlineKeepers(client)).find((k) => k.address === honest.identity.signer.address)!
    const check = (hpkePublicKey: Hex, address: Address = listed.address) =>
      verifyKeeperKey({ keeper: { ...listed, address, hpkePublicKey }, policy, chainId: network.chainId, registry: network.contracts.workerRegistry })
    assert.equal((await check(listed.hpkePublicKey)).teeType, 'sim')
    // A lying RPC or gateway naming another key for the same keeper: refused.
    await assert.rejects(check(bytesToHex(randomBytes(32))), (e) => isW3aError(e, 'KEY_NOT_ATTESTED'))
    // The host swaps in a fresh, valid quote for other keys: not the registered one.
    const original = honest.quote
    const other = await fakeKeeper()
    honest.quote = other.quote
    await assert.rejects(check(listed.hpkePublicKey), (e) => isW3aError(e, 'KEY_NOT_ATTESTED') && /other than the one it registered/.test(e.message))
    // A network that no longer allows sim: the same quote no longer attests anything.
    honest.quote = original
    await assert.rejects(
      verifyKeeperKey({ keeper: listed, policy: { ...policy, allowSim: false }, chainId: network.chainId, registry: network.contracts.workerRegistry }),
      (e) => isW3aError(e, 'KEY_NOT_ATTESTED') && isW3aError(e.cause, 'SIM_NOT_ALLOWED'),
    )
  })
})
