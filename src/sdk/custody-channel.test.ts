// Mounts issue 8 attack 1 against the owner's client on a real Anvil: three keepers, and one
// hostile keeper host votes first for the key of a cluster secret it made itself. While no key
// has a majority, postOwnerCommand refuses (EPOCH_KEY_NOT_AGREED) and posts nothing; once two
// keepers agree on the honest key, the dataset key is sealed to that key and never to the first.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { bytesToHex, hexToBytes, keccak256, toHex, type Hex, type LocalAccount } from 'viem'
import { isW3aError } from '../core/errors.js'
import type { NetworkInfo } from '../core/network-info.js'
import {
  allowMeasurement,
  createChainClients,
  deployContracts,
  devAccount,
  getCurrentEpoch,
  getInboxState,
  publishEpochKey,
  readInbox,
  registerWorker,
  w3aTokenAbi,
  workerPossessionDigest,
  type DeployContractsReturnType,
  type WriteClients,
} from '../chain/index.js'
import { startAnvil, type AnvilInstance } from '../chain/anvil.js'
import { generateHpkeKeyPair, type HpkeKeyPair } from '../crypto/hpke.js'
import { datasetIdFor, dekHash } from '../crypto/typed-commands.js'
import { openCommand } from '../custody/index.js'
import { attestIdentity, createEnclaveIdentity, createSimEnclave, DEV_ATTESTATION_SIGNER } from '../tee/index.js'
import type { W3aClient } from './client.js'
import { newNonce, commandExpiry, postOwnerCommand } from './custody-channel.js'

const M = keccak256(toHex('keeper bundle'))
const TOKEN = 10n ** 18n
const dir = mkdtempSync(join(tmpdir(), 'w3a-epoch-quorum-'))
let anvil: AnvilInstance
let governance: WriteClients
let d: DeployContractsReturnType
let client: W3aClient
const keepers: WriteClients[] = [] // [0] is the hostile host's keeper
let X: HpkeKeyPair // the hostile keeper's own key
let Y: HpkeKeyPair // the honest cluster key
const owner = devAccount(1) as unknown as LocalAccount

async function registerKeeper(i: number): Promise<WriteClients> {
  const identity = await createEnclaveIdentity()
  const backend = createSimEnclave({ measurement: M, platformSecretFile: join(dir, `${i}.key`) })
  const att = await attestIdentity({ backend, identity, chainId: anvil.chainId, registry: d.workerRegistry })
  await registerWorker(governance, {
    registry: d.workerRegistry,
    worker: identity.signer.address,
    teeType: 'sim',
    measurement: M,
    hpkePublicKey: bytesToHex(identity.hpke.publicKey),
    roles: ['keeper'],
    endpoint: 'http://127.0.0.1:9', // nobody answers: no receipt comes back in these tests
    quote: bytesToHex(att.quote),
    workerSignature: await identity.signer.sign!({ hash: workerPossessionDigest({ chainId: anvil.chainId, registry: d.workerRegistry, operator: governance.walletClient.account.address }) }),
    gasFunding: TOKEN / 10n,
  })
  return createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account: identity.signer })
}

/** Votes for `key` in the current epoch and the next, so that a boundary during the test changes nothing. */
async function vote(k: WriteClients, key: HpkeKeyPair): Promise<void> {
  const epoch = await getCurrentEpoch(governance.publicClient, { registry: d.workerRegistry })
  for (const e of [epoch, epoch + 1n]) await publishEpochKey(k, { registry: d.workerRegistry, epoch: e, publicKey: bytesToHex(key.publicKey) })
}

async function registerCommand(): Promise<{ command: Parameters<typeof postOwnerCommand>[1]['command']; dek: Uint8Array }> {
  const dek = crypto.getRandomValues(new Uint8Array(32))
  const salt = bytesToHex(crypto.getRandomValues(new Uint8Array(32)))
  const datasetId = datasetIdFor(owner.address, salt)
  return {
    command: { type: 'RegisterDataset', message: { datasetId, salt, manifestCid: 'bafkqaaa', sealedKeyHash: dekHash(dek), nonce: newNonce(), expiry: commandExpiry() } },
    dek,
  }
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
  for (const i of [0, 1, 2]) keepers.push(await registerKeeper(i))
  ;[X, Y] = [await generateHpkeKeyPair(), await generateHpkeKeyPair()]
  const { token, datasetRegistry, workerRegistry, custodyInbox, market, jobs, campaigns, storageMarket } = d
  const network: NetworkInfo = { name: 'test', chainId: anvil.chainId, rpcUrl: anvil.rpcUrl, contracts: { token, datasetRegistry, workerRegistry, custodyInbox, market, jobs, campaigns, storageMarket }, dev: true }
  client = { gateway: undefined as never, account: owner, network: async () => network }
})

after(async () => {
  await anvil?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('owners seal custody commands only to an agreed epoch key', () => {
  it('one hostile vote of three keepers: postOwnerCommand refuses (EPOCH_KEY_NOT_AGREED) and posts nothing', async () => {
    await vote(keepers[0]!, X)
    const { command, dek } = await registerCommand()
    await assert.rejects(postOwnerCommand(client, { account: owner, command, dek, timeoutMs: 1_000 }), (e) => {
      assert.ok(isW3aError(e, 'EPOCH_KEY_NOT_AGREED'), String(e))
      assert.ok(e.details.some((l) => l.includes(bytesToHex(X.publicKey)) && l.includes('1 vote')), e.details.join('\n'))
      assert.equal(e.details.filter((l) => l.endsWith('no vote')).length, 2, e.details.join('\n'))
      return true
    })
    assert.equal((await getInboxState(governance.publicClient, { inbox: d.custodyInbox })).count, 0n, 'nothing was posted')
  })

  it('a 1–1 split is still no agreed key; the second honest vote makes Y agreed, and the DEK is sealed to Y, never X', async () => {
    await vote(keepers[1]!, Y)
    const split = await registerCommand()
    await assert.rejects(postOwnerCommand(client, { account: owner, ...split, timeoutMs: 1_000 }), (e) => isW3aError(e, 'EPOCH_KEY_NOT_AGREED'))
    assert.equal((await getInboxState(governance.publicClient, { inbox: d.custodyInbox })).count, 0n)

    await vote(keepers[2]!, Y)
    const { command, dek } = await registerCommand()
    // Posted; no keeper of this test answers, so the wait for its receipt ends unanswered.
    await assert.rejects(postOwnerCommand(client, { account: owner, command, dek, timeoutMs: 1_000 }), (e) => isW3aError(e, 'KEEPER_UNAVAILABLE'))
    const [entry] = await readInbox(governance.publicClient, { inbox: d.custodyInbox })
    assert.ok(entry)
    const open = (key: HpkeKeyPair) =>
      openCommand({ epochPrivateKey: key.privateKey, epoch: entry.epoch, chainId: anvil.chainId, inbox: d.custodyInbox, ciphertext: hexToBytes(entry.ciphertext as Hex) })
    assert.equal(bytesToHex((await open(Y)).dek!), bytesToHex(dek))
    await assert.rejects(open(X))
  })
})
