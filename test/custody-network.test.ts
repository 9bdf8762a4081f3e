/**
 * Custody on a real devnet: Anvil, the contracts, a keeper worker spawned by `startDevnet`
 * (its enclave in a process of its own), and a second keeper started here that joins by
 * hand-over. Owners grant, revoke and delete through the encrypted inbox; both keepers must
 * agree on every state root; refusals leave the state unchanged; after delete and an epoch
 * change, nothing either keeper holds opens the deleted dataset key.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, readFileSync, existsSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { bytesToHex, hexToBytes, numberToHex, type Address, type Hex } from 'viem'
import { startDevnet, type RunningDevnet } from '../src/node/up.js'
import { startWorker, type RunningWorker } from '../src/node/worker/worker-host.js'
import { createChainClients, devAccount, getEpochKey, getEpochKeyVote, getStateRoots, getCurrentEpoch, readInbox, postCustodyCommand, getRegistryParams, type ChainPublicClient } from '../src/chain/index.js'
import { createW3aClient, uploadDataset, grantAccess, revokeAccess, deleteDataset, readDatasetAccess, postOwnerCommand, type W3aClient } from '../src/sdk/index.js'
import { createSimEnclave, readSealedFile, importIdentity } from '../src/tee/index.js'
import { EpochKeyring, decodeSnapshot, verifyReceipt, openCommand, sealCommand } from '../src/custody/index.js'
import { deriveOwnerWrapKey, unwrapDatasetKey } from '../src/crypto/owner-wrap-key.js'
import { signOwnerCommand } from '../src/crypto/typed-commands.js'
import { fetchManifest } from '../src/sdk/actions/downloadDataset.js'
import { isW3aError } from '../src/core/errors.js'

const work = mkdtempSync(join(tmpdir(), 'w3a-custody-'))
const owner = devAccount(2)
const analyst = devAccount(3)
const stranger = devAccount(4)
let devnet: RunningDevnet
let keeper2: RunningWorker | undefined
let publicClient: ChainPublicClient
let ownerClient: W3aClient
let datasetId: Hex
const keeper2Dir = join(work, 'keeper-2')

type KeeperInfo = { address: Address; keeper: { processed: string; stateRoot: Hex; hasClusterSecret: boolean; contentRoots: { datasets: Hex; nonces: Hex } } }
async function info(url: string): Promise<KeeperInfo> {
  return (await (await fetch(`${url}/v1/info`)).json()) as never
}

/** Waits until both keepers have applied every inbox entry; returns their roots. */
async function settle(): Promise<Hex[]> {
  const { count } = { count: BigInt((await readInbox(publicClient, { inbox: devnet.contracts.custodyInbox })).length) }
  const urls = [devnet.workers[0]!.url, ...(keeper2 ? [keeper2.url] : [])]
  if (keeper2) await keeper2.syncNow()
  for (let i = 0; i < 100; i++) {
    const infos = await Promise.all(urls.map(info))
    if (infos.every((x) => BigInt(x.keeper.processed) === count)) return infos.map((x) => x.keeper.stateRoot)
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error('keepers did not catch up')
}

/** The second keeper: its host runs in this process, its enclave in a child process. */
function startKeeper2(): Promise<RunningWorker> {
  return startWorker({
    dataDir: keeper2Dir,
    tee: 'sim',
    keeper: true,
    rpcUrl: devnet.rpcUrl,
    gatewayUrl: devnet.gatewayUrl,
    contracts: { chainId: devnet.chainId, ...devnet.contracts },
    operator: devAccount(1),
    dev: true,
    pollMs: 300,
  })
}

async function mineBlocks(n: number): Promise<void> {
  await publicClient.request({ method: 'anvil_mine' as never, params: [numberToHex(n)] as never })
}

before(async () => {
  devnet = await startDevnet({ dataDir: join(work, 'devnet'), port: 0 })
  publicClient = createChainClients({ rpcUrl: devnet.rpcUrl, chainId: devnet.chainId }).publicClient
  ownerClient = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: owner })
  const csv = join(work, 'data.csv')
  writeFileSync(csv, ['user,score', ...Array.from({ length: 30 }, (_, i) => `u${i},${i}`)].join('\n') + '\n')
  const up = await uploadDataset(ownerClient, { file: csv, name: 'scores', privacyUnit: 'user' })
  datasetId = up.id
  assert.equal(up.custody.keeper.toLowerCase(), devnet.workers[0]!.address.toLowerCase())
})

after(async () => {
  await keeper2?.stop()
  await devnet?.stop()
  rmSync(work, { recursive: true, force: true })
})

test('a second keeper joins by hand-over and reaches the same state root', async () => {
  keeper2 = await startKeeper2()
  const k2 = await info(keeper2.url)
  assert.equal(k2.keeper.hasClusterSecret, true)
  const [r1, r2] = await settle()
  assert.equal(r1, r2)
})

test('grants and revokes are applied identically by both keepers; the owner reads them from either', async () => {
  const g = await grantAccess(ownerClient, { id: datasetId, grantee: analyst.address, uses: 5 })
  assert.equal(g.receipt.status, 'applied')
  await verifyReceipt(g.receipt as never, g.keeper)
  const [r1, r2] = await settle()
  assert.equal(r1, r2)
  for (const keeper of [devnet.workers[0]!.address, keeper2!.address]) {
    const view = await readDatasetAccess(ownerClient, { id: datasetId, keeper })
    assert.deepEqual(view.grants.map((x) => [x.grantee.toLowerCase(), x.usesLeft]), [[analyst.address.toLowerCase(), 5]])
    assert.equal(view.asOf.stateRoot, r1)
  }
  await revokeAccess(ownerClient, { id: datasetId, grantee: analyst.address })
  const [s1, s2] = await settle()
  assert.equal(s1, s2)
  assert.notEqual(s1, r1)
  assert.deepEqual((await readDatasetAccess(ownerClient, { id: datasetId })).grants, [])
})

test('only the owner can read the confidential state', async () => {
  const strangerClient = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: stranger })
  await assert.rejects(readDatasetAccess(strangerClient, { id: datasetId }), (e) => isW3aError(e) && /not-authorized|refused/i.test(e.message))
})

test('refused commands change nothing and come with a signed receipt saying why', async () => {
  await settle()
  const before = await info(keeper2!.url)
  // A stranger grants themselves access to someone else's dataset.
  const strangerClient = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: stranger })
  const forged = await postOwnerCommand(strangerClient, {
    account: stranger,
    command: { type: 'Grant', message: { datasetId, grantee: stranger.address, expiresAt: 0n, uses: 0, nonce: 1n, expiry: BigInt(Math.floor(Date.now() / 1000) + 600) } },
  })
  assert.equal(forged.receipt.status, 'refused')
  assert.equal(forged.receipt.reason, 'not-owner')

  // Replaying an owner's command: the same ciphertext posted again by anyone.
  const entries = await readInbox(publicClient, { inbox: devnet.contracts.custodyInbox })
  const grantEntry = entries[1]! // 0 = register, 1 = the grant above
  const replay = await postCustodyCommand(createChainClients({ rpcUrl: devnet.rpcUrl, chainId: devnet.chainId, account: stranger }), {
    inbox: devnet.contracts.custodyInbox,
    epoch: grantEntry.epoch,
    ciphertext: grantEntry.ciphertext,
  })
  const [after1, after2] = await settle()
  assert.equal(after1, after2)
  // The root also commits to the replay position, which moved; what it says of datasets,
  // grants and nonces did not.
  assert.deepEqual((await info(keeper2!.url)).keeper.contentRoots, before.keeper.contentRoots, 'refusals leave the custody state unchanged')
  assert.deepEqual((await info(devnet.workers[0]!.url)).keeper.contentRoots, before.keeper.contentRoots)
  const res = await fetch(`${devnet.workers[0]!.url}/v1/custody/receipts/${replay.index}`)
  const receipt = await verifyReceipt((await res.json()) as never, devnet.workers[0]!.address)
  assert.equal(receipt.status, 'refused')
  assert.match(String(receipt.reason), /replayed-nonce|sealed-to-past-epoch/)

  // Garbage in the inbox.
  const junk = await postCustodyCommand(createChainClients({ rpcUrl: devnet.rpcUrl, chainId: devnet.chainId, account: stranger }), {
    inbox: devnet.contracts.custodyInbox,
    epoch: grantEntry.epoch,
    ciphertext: bytesToHex(randomBytes(200)),
  })
  await settle()
  assert.deepEqual((await info(keeper2!.url)).keeper.contentRoots, before.keeper.contentRoots)
  const junkReceipt = (await (await fetch(`${keeper2!.url}/v1/custody/receipts/${junk.index}`)).json()) as { status: string; reason: string }
  assert.equal(junkReceipt.status, 'refused')
})

test('keepers publish the same state root on chain for each epoch', async () => {
  const { epochLength } = await getRegistryParams(publicClient, { registry: devnet.contracts.workerRegistry })
  await mineBlocks(Number(epochLength))
  const epoch = await getCurrentEpoch(publicClient, { registry: devnet.contracts.workerRegistry })
  await settle()
  let roots: Awaited<ReturnType<typeof getStateRoots>> = []
  for (let i = 0; i < 50 && roots.length < 2; i++) {
    roots = await getStateRoots(publicClient, { registry: devnet.contracts.workerRegistry, epoch })
    if (roots.length < 2) await new Promise((r) => setTimeout(r, 200))
  }
  assert.equal(roots.length, 2, 'both keepers published')
  assert.equal(roots[0]!.root, roots[1]!.root)
  assert.equal(roots[0]!.inboxCount, roots[1]!.inboxCount)
  // Each keeper voted (before its root) for the key its own enclave derived: the same key, agreed 2 of 2.
  const registry = devnet.contracts.workerRegistry
  const agreed = await getEpochKey(publicClient, { registry, epoch })
  assert.ok(agreed)
  for (const keeper of [devnet.workers[0]!.address, keeper2!.address]) {
    assert.deepEqual(await getEpochKeyVote(publicClient, { registry, epoch, keeper }), { key: agreed, votes: 2n })
  }
})

test('a keeper restarted from its sealed state resumes at the same root', async () => {
  const [rootBefore] = await settle()
  await keeper2!.stop()
  keeper2 = await startKeeper2()
  const [r1, r2] = await settle()
  assert.equal(r2, rootBefore)
  assert.equal(r1, r2)
})

/** The one version of a sealed state file the enclave keeps (src/enclave/sealed-head.ts: `<name>.<seq>.sealed`). */
function versioned(dir: string, name: string): string {
  const files = readdirSync(join(dir, 'enclave')).filter((f) => new RegExp(`^${name}\\.\\d+\\.sealed$`).test(f))
  assert.equal(files.length, 1, `one ${name} file in ${dir}`)
  return join(dir, 'enclave', files[0]!)
}

test('after delete and an epoch change, nothing any keeper holds opens the deleted key', async () => {
  // The owner recovers the DEK (to know what to look for), then deletes.
  const manifest = await fetchManifest(ownerClient, (await ownerClient.gateway.getJson<{ dataset: { manifestCid: string } }>(`/api/v1/datasets/${datasetId}`)).dataset.manifestCid)
  const wrapKey = await deriveOwnerWrapKey({ account: owner, chainId: devnet.chainId })
  const wrap = manifest.keyWraps[0]!
  const dek = await unwrapDatasetKey({ recipientPrivateKey: wrapKey.privateKey, datasetId, enc: wrap.enc, ciphertext: wrap.ciphertext })

  const del = await deleteDataset(ownerClient, { id: datasetId })
  assert.ok(!del.alreadyDeleted)
  assert.equal(del.receipt.status, 'applied')
  const registerEntry = (await readInbox(publicClient, { inbox: devnet.contracts.custodyInbox }))[0]!
  assert.equal(BigInt(del.receipt.unrecoverableAfterEpoch!), registerEntry.epoch)
  const { epochLength } = await getRegistryParams(publicClient, { registry: devnet.contracts.workerRegistry })
  await mineBlocks(Number(epochLength))
  await settle()
  // A grant on the deleted dataset is refused.
  await assert.rejects(grantAccess(ownerClient, { id: datasetId, grantee: analyst.address }), (e) => isW3aError(e, 'COMMAND_REFUSED') && /dataset-deleted/.test(e.message))
  await settle()

  // The sealing key is bound to the network measurement (code and measured config), as both keepers quote it.
  const measurement = ((await info(devnet.workers[0]!.url)) as unknown as { measurement: Hex }).measurement
  assert.equal(((await info(keeper2!.url)) as unknown as { measurement: Hex }).measurement, measurement)
  for (const dir of [join(work, 'devnet', 'worker-0'), keeper2Dir]) {
    const sealingKey = await createSimEnclave({ measurement, platformSecretFile: join(dir, 'sim-platform.key') }).sealingKey()
    const held = {
      identity: readSealedFile(join(dir, 'enclave', 'identity.sealed'), sealingKey, 'w3a/enclave/identity/v1'),
      keyring: readSealedFile(versioned(dir, 'keyring'), sealingKey, 'w3a/enclave/keyring/v1'),
      state: readSealedFile(versioned(dir, 'state'), sealingKey, 'w3a/enclave/custody-state/v1'),
      receipts: existsSync(join(dir, 'receipts.jsonl')) ? readFileSync(join(dir, 'receipts.jsonl')) : new Uint8Array(),
    }
    for (const [name, bytes] of Object.entries(held)) {
      assert.equal(Buffer.from(bytes).includes(Buffer.from(dek)), false, `${name} of ${dir} still holds the DEK`)
      assert.equal(Buffer.from(bytes).includes(Buffer.from(bytesToHex(dek).slice(2))), false, `${name} of ${dir} holds the DEK in hex`)
    }
    const state = decodeSnapshot(held.state)
    assert.ok(state.datasets, 'state decoded')
    // Every private key the keeper holds, tried on the register command's on-chain ciphertext.
    const ring = EpochKeyring.import(held.keyring)
    assert.ok(ring.epoch > registerEntry.epoch, 'the keeper moved past the epoch the key was sealed to')
    const keys = [(await ring.keyPair()).privateKey, importIdentity(held.identity).hpke.privateKey]
    const ct = hexToBytes(registerEntry.ciphertext)
    const at = { chainId: devnet.chainId, inbox: devnet.contracts.custodyInbox, ciphertext: ct }
    for (const epochPrivateKey of keys) {
      for (const epoch of [registerEntry.epoch, ring.epoch]) {
        await assert.rejects(openCommand({ ...at, epoch, epochPrivateKey }), (e) => isW3aError(e, 'HPKE_OPEN_FAILED'))
      }
    }
    // Control: the same attempt does open a command sealed to the key the keeper holds now.
    const signed = await signOwnerCommand({
      account: owner,
      domain: { chainId: devnet.chainId, verifyingContract: devnet.contracts.custodyInbox },
      command: { type: 'Delete', message: { datasetId, nonce: 7n, expiry: 2n ** 40n } },
    })
    const fresh = await sealCommand({ epochPublicKey: (await ring.keyPair()).publicKey, epoch: ring.epoch, chainId: devnet.chainId, inbox: devnet.contracts.custodyInbox, signed, dek })
    const opened = await openCommand({ chainId: devnet.chainId, inbox: devnet.contracts.custodyInbox, ciphertext: fresh, epoch: ring.epoch, epochPrivateKey: keys[0]! })
    assert.deepEqual(opened.dek, dek)
  }
})

test('a worker refuses to run the simulated TEE on a production network', async () => {
  await assert.rejects(
    startWorker({ dataDir: join(work, 'prod'), tee: 'sim', keeper: false, rpcUrl: devnet.rpcUrl, gatewayUrl: devnet.gatewayUrl, contracts: { chainId: devnet.chainId, ...devnet.contracts }, operator: devAccount(5), dev: false }),
    (e) => isW3aError(e, 'SIM_NOT_ALLOWED'),
  )
})
