import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { keccak256, toHex, zeroAddress, type Hex } from 'viem'
import { isW3aError } from '../core/errors.js'
import {
  createChainClients,
  datasetIdFor,
  datasetRegistryAbi,
  deployContracts,
  devAccount,
  getDataset,
  getTokenBalance,
  listDatasets,
  registerDataset,
  setDatasetPrice,
  setDatasetStatus,
  startAnvil,
  TxRevertedError,
  updateDatasetManifest,
  setDatasetWriter,
  getDatasetWriter,
  withChainErrors,
  type AnvilInstance,
  type DeployContractsReturnType,
  type WriteClients,
} from './index.js'

let seq = 0
const newSalt = (): Hex => keccak256(toHex(`registry-test-${process.pid}-${seq++}-${Math.random()}`))
/** An id nobody registered (never derived from a real registration). */
const unknownId = (): Hex => keccak256(toHex(`unknown-${seq++}-${Math.random()}`))
const SCHEMA: Hex = keccak256(toHex('ts TIMESTAMP, user VARCHAR, amount DOUBLE'))
const SCHEMA_2: Hex = keccak256(toHex('ts TIMESTAMP, user VARCHAR, amount DOUBLE, country VARCHAR'))
const CID_A = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'
const CID_B = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'

/** Asserts a TX_REVERTED naming `errorName`, in the message and as a field. */
async function rejectsWith(p: Promise<unknown>, errorName: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isW3aError(e, 'TX_REVERTED'), `expected TX_REVERTED, got ${String(e)}`)
    assert.ok(e instanceof TxRevertedError)
    assert.equal(e.errorName, errorName)
    assert.match(e.message, new RegExp(errorName))
    return true
  })
}

let anvil: AnvilInstance
let deployed: DeployContractsReturnType
let alice: WriteClients // dev account 1
let bob: WriteClients // dev account 2
let registry: Hex

before(async () => {
  anvil = await startAnvil({ port: 0 })
  const deployer = createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account: devAccount(0) })
  deployed = await deployContracts(deployer)
  registry = deployed.datasetRegistry
  alice = createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account: devAccount(1) })
  bob = createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account: devAccount(2) })
})
after(async () => {
  await anvil?.stop()
})

describe('DatasetRegistry actions', () => {
  it('deploys the token and the registry wired together', async () => {
    const { publicClient } = alice
    assert.equal(deployed.chainId, 31337)
    assert.equal(deployed.deployer, devAccount(0).address)
    const [token, governance] = await Promise.all([
      publicClient.readContract({ address: registry, abi: datasetRegistryAbi, functionName: 'token' }),
      publicClient.readContract({ address: registry, abi: datasetRegistryAbi, functionName: 'governance' }),
    ])
    assert.equal(token, deployed.token)
    assert.equal(governance, devAccount(0).address)
    assert.equal(await getTokenBalance(publicClient, { token: deployed.token, account: devAccount(1).address }), 0n)
  })

  it('registers and reads a dataset', async () => {
    const salt = newSalt()
    const id = datasetIdFor(devAccount(1).address, salt)
    const res = await registerDataset(alice, { registry, salt, name: 'Sales 2025', manifestCid: CID_A, schemaHash: SCHEMA, pricePerQuery: 10n ** 18n })
    assert.match(res.hash, /^0x[0-9a-f]{64}$/)
    assert.equal(typeof res.blockNumber, 'bigint')
    assert.equal(res.id, id)
    assert.equal(res.owner, devAccount(1).address)

    const d = await getDataset(alice.publicClient, { registry, id })
    const block = await alice.publicClient.getBlock({ blockNumber: res.blockNumber })
    assert.deepEqual(d, {
      id,
      owner: devAccount(1).address,
      name: 'Sales 2025',
      manifestCid: CID_A,
      schemaHash: SCHEMA,
      pricePerQuery: 10n ** 18n,
      status: 'unlisted',
      createdAt: Number(block.timestamp),
      updatedAt: Number(block.timestamp),
    })
  })

  it('rejects a reused salt without sending a transaction', async () => {
    const salt = newSalt()
    const { id } = await registerDataset(alice, { registry, salt, name: 'first', manifestCid: CID_A, schemaHash: SCHEMA, pricePerQuery: 1n })
    const nonceBefore = await alice.publicClient.getTransactionCount({ address: devAccount(1).address })
    await rejectsWith(registerDataset(alice, { registry, salt, name: 'again', manifestCid: CID_B, schemaHash: SCHEMA, pricePerQuery: 2n }), 'DatasetExists')
    assert.equal(await alice.publicClient.getTransactionCount({ address: devAccount(1).address }), nonceBefore, 'simulation stops the send')
    const d = await getDataset(alice.publicClient, { registry, id })
    assert.equal(d.name, 'first')
    assert.equal(d.owner, devAccount(1).address)
  })

  it('derives ids from the sender, so a copied salt cannot take an owner\'s id (no front-running)', async () => {
    const salt = newSalt()
    const aliceId = datasetIdFor(devAccount(1).address, salt)
    // Carol saw Alice's pending transaction (salt in the clear) and registers first with the same salt.
    const carol = createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account: devAccount(3) })
    const squat = await registerDataset(carol, { registry, salt, name: 'squatter', manifestCid: CID_B, schemaHash: SCHEMA, pricePerQuery: 0n })
    assert.notEqual(squat.id, aliceId, 'a second account with the same salt gets a different id')
    assert.equal(squat.id, datasetIdFor(devAccount(3).address, salt))
    assert.equal(squat.owner, devAccount(3).address)
    // Alice still gets exactly the id she bound into her ciphertexts.
    const mine = await registerDataset(alice, { registry, salt, name: 'mine', manifestCid: CID_A, schemaHash: SCHEMA, pricePerQuery: 1n })
    assert.equal(mine.id, aliceId)
    assert.equal((await getDataset(alice.publicClient, { registry, id: aliceId })).owner, devAccount(1).address)
    assert.equal((await getDataset(alice.publicClient, { registry, id: squat.id })).owner, devAccount(3).address)
    // The contract's derivation is the TS one, byte for byte.
    const onChain = await alice.publicClient.readContract({ address: registry, abi: datasetRegistryAbi, functionName: 'datasetIdFor', args: [devAccount(1).address, salt] })
    assert.equal(onChain, aliceId)
    assert.throws(() => datasetIdFor(devAccount(1).address, '0x1234'), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
  })

  it('validates registration input', async () => {
    await rejectsWith(registerDataset(alice, { registry, salt: newSalt(), name: 'x', manifestCid: '', schemaHash: SCHEMA, pricePerQuery: 0n }), 'EmptyManifestCid')
    await rejectsWith(registerDataset(alice, { registry, salt: newSalt(), name: '', manifestCid: CID_A, schemaHash: SCHEMA, pricePerQuery: 0n }), 'EmptyName')
    await rejectsWith(
      registerDataset(alice, { registry, salt: newSalt(), name: 'n'.repeat(129), manifestCid: CID_A, schemaHash: SCHEMA, pricePerQuery: 0n }),
      'NameTooLong',
    )
    // A zero salt is as good as any other: the id is a hash, never zero.
    const zeroSalt = `0x${'00'.repeat(32)}` as Hex
    const z = await registerDataset(alice, { registry, salt: zeroSalt, name: 'x', manifestCid: CID_A, schemaHash: SCHEMA, pricePerQuery: 0n })
    assert.equal(z.id, datasetIdFor(devAccount(1).address, zeroSalt))
    await assert.rejects(
      registerDataset(alice, { registry, salt: '0x1234', name: 'x', manifestCid: CID_A, schemaHash: SCHEMA, pricePerQuery: 0n }),
      (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'),
    )
  })

  it('getDataset of an unknown id is DATASET_NOT_FOUND', async () => {
    await assert.rejects(getDataset(alice.publicClient, { registry, id: unknownId() }), (e: unknown) => isW3aError(e, 'DATASET_NOT_FOUND'))
  })

  it('lets only the owner change price, manifest and status', async () => {
    const { id } = await registerDataset(alice, { registry, salt: newSalt(), name: 'owned', manifestCid: CID_A, schemaHash: SCHEMA, pricePerQuery: 5n })

    await rejectsWith(setDatasetPrice(bob, { registry, id, pricePerQuery: 1n }), 'NotDatasetOwner')
    await rejectsWith(setDatasetStatus(bob, { registry, id, status: 'paused' }), 'NotDatasetOwner')
    await rejectsWith(updateDatasetManifest(bob, { registry, id, manifestCid: CID_B, schemaHash: SCHEMA_2 }), 'NotDatasetWriter')
    await rejectsWith(setDatasetWriter(bob, { registry, id, writer: devAccount(2).address }), 'NotDatasetOwner')
    await rejectsWith(setDatasetPrice(bob, { registry, id: unknownId(), pricePerQuery: 1n }), 'UnknownDataset')

    const price = await setDatasetPrice(alice, { registry, id, pricePerQuery: 7n })
    assert.equal(price.oldPrice, 5n)
    assert.equal(price.newPrice, 7n)
    const manifest = await updateDatasetManifest(alice, { registry, id, manifestCid: CID_B, schemaHash: SCHEMA_2 })
    assert.equal(manifest.manifestCid, CID_B)
    const paused = await setDatasetStatus(alice, { registry, id, status: 'paused' })
    assert.equal(paused.previousStatus, 'unlisted', 'registered unlisted')
    assert.equal(paused.status, 'paused')

    const d = await getDataset(alice.publicClient, { registry, id })
    assert.equal(d.pricePerQuery, 7n)
    assert.equal(d.manifestCid, CID_B)
    assert.equal(d.schemaHash, SCHEMA_2)
    assert.equal(d.status, 'paused')
    assert.ok(d.updatedAt >= d.createdAt)

    await rejectsWith(updateDatasetManifest(alice, { registry, id, manifestCid: '', schemaHash: SCHEMA }), 'EmptyManifestCid')
    const active = await setDatasetStatus(alice, { registry, id, status: 'active' })
    assert.equal(active.previousStatus, 'paused')
    assert.equal((await getDataset(alice.publicClient, { registry, id })).status, 'active')
  })

  it('lets the writer the owner set append (updateManifest) and nothing else; the owner can take it back', async () => {
    const { id } = await registerDataset(alice, { registry, salt: newSalt(), name: 'site', manifestCid: CID_A, schemaHash: SCHEMA, pricePerQuery: 0n })
    assert.equal(await getDatasetWriter(alice.publicClient, { registry, id }), zeroAddress)
    await setDatasetWriter(alice, { registry, id, writer: devAccount(2).address })
    assert.equal((await getDatasetWriter(alice.publicClient, { registry, id })).toLowerCase(), devAccount(2).address.toLowerCase())
    await updateDatasetManifest(bob, { registry, id, manifestCid: CID_B, schemaHash: SCHEMA_2 })
    assert.equal((await getDataset(alice.publicClient, { registry, id })).manifestCid, CID_B)
    // A writer appends; it does not own: price and status stay the owner's.
    await rejectsWith(setDatasetPrice(bob, { registry, id, pricePerQuery: 1n }), 'NotDatasetOwner')
    await setDatasetWriter(alice, { registry, id, writer: zeroAddress })
    await rejectsWith(updateDatasetManifest(bob, { registry, id, manifestCid: CID_A, schemaHash: SCHEMA }), 'NotDatasetWriter')
  })

  it('registers unlisted; the owner lists (active) and may unlist again', async () => {
    const { id } = await registerDataset(alice, { registry, salt: newSalt(), name: 'draft', manifestCid: CID_A, schemaHash: SCHEMA, pricePerQuery: 5n })
    assert.equal((await getDataset(alice.publicClient, { registry, id })).status, 'unlisted')
    await rejectsWith(setDatasetStatus(bob, { registry, id, status: 'active' }), 'NotDatasetOwner')
    const listed = await setDatasetStatus(alice, { registry, id, status: 'active' })
    assert.equal(listed.previousStatus, 'unlisted')
    assert.equal((await getDataset(alice.publicClient, { registry, id })).status, 'active')
    await setDatasetStatus(alice, { registry, id, status: 'unlisted' })
    assert.equal((await getDataset(alice.publicClient, { registry, id })).status, 'unlisted')
  })

  it('treats deleted as final', async () => {
    const salt = newSalt()
    const { id } = await registerDataset(alice, { registry, salt, name: 'to delete', manifestCid: CID_A, schemaHash: SCHEMA, pricePerQuery: 5n })
    const del = await setDatasetStatus(alice, { registry, id, status: 'deleted' })
    assert.equal(del.status, 'deleted')
    await rejectsWith(setDatasetStatus(alice, { registry, id, status: 'active' }), 'DatasetDeleted')
    await rejectsWith(setDatasetStatus(alice, { registry, id, status: 'deleted' }), 'DatasetDeleted')
    await rejectsWith(setDatasetPrice(alice, { registry, id, pricePerQuery: 1n }), 'DatasetDeleted')
    await rejectsWith(updateDatasetManifest(alice, { registry, id, manifestCid: CID_B, schemaHash: SCHEMA }), 'DatasetDeleted')
    // The id stays taken: it is bound into ciphertexts that may still exist somewhere.
    await rejectsWith(registerDataset(alice, { registry, salt, name: 'reuse', manifestCid: CID_A, schemaHash: SCHEMA, pricePerQuery: 0n }), 'DatasetExists')
    const d = await getDataset(alice.publicClient, { registry, id })
    assert.equal(d.status, 'deleted')
  })

  it('emits an event for every change', async () => {
    const reg = await registerDataset(alice, { registry, salt: newSalt(), name: 'evented', manifestCid: CID_A, schemaHash: SCHEMA, pricePerQuery: 3n })
    const { id } = reg
    await setDatasetPrice(alice, { registry, id, pricePerQuery: 4n })
    await updateDatasetManifest(alice, { registry, id, manifestCid: CID_B, schemaHash: SCHEMA_2 })
    await setDatasetStatus(alice, { registry, id, status: 'paused' })

    const logs = await alice.publicClient.getContractEvents({ address: registry, abi: datasetRegistryAbi, fromBlock: reg.blockNumber, args: { id } })
    assert.deepEqual(
      logs.map((l) => l.eventName),
      ['DatasetRegistered', 'PriceChanged', 'ManifestUpdated', 'StatusChanged'],
    )
    const [r, p, m, s] = logs
    assert.ok(r?.eventName === 'DatasetRegistered')
    assert.deepEqual(r.args, { id, owner: devAccount(1).address, name: 'evented', manifestCid: CID_A, schemaHash: SCHEMA, pricePerQuery: 3n })
    assert.ok(p?.eventName === 'PriceChanged')
    assert.deepEqual(p.args, { id, oldPrice: 3n, newPrice: 4n })
    assert.ok(m?.eventName === 'ManifestUpdated')
    assert.deepEqual(m.args, { id, manifestCid: CID_B, schemaHash: SCHEMA_2 })
    assert.ok(s?.eventName === 'StatusChanged')
    assert.deepEqual(s.args, { id, oldStatus: 3, newStatus: 1 }, 'Unlisted (3) -> Paused (1)')
  })

  it('enumerates datasets: all, by owner, by status, in pages', async () => {
    const bobIds: Hex[] = []
    for (const i of [0, 1, 2]) {
      const { id } = await registerDataset(bob, { registry, salt: newSalt(), name: `bob ${i}`, manifestCid: CID_A, schemaHash: SCHEMA, pricePerQuery: BigInt(i) })
      bobIds.push(id)
    }
    await setDatasetStatus(bob, { registry, id: bobIds[1]!, status: 'paused' })

    const { publicClient } = bob
    const count = await publicClient.readContract({ address: registry, abi: datasetRegistryAbi, functionName: 'count' })
    const all = await listDatasets(publicClient, { registry })
    assert.equal(BigInt(all.length), count)
    assert.deepEqual(all.slice(-3).map((d) => d.id), bobIds, 'registration order')
    const idAt0 = await publicClient.readContract({ address: registry, abi: datasetRegistryAbi, functionName: 'idAt', args: [0n] })
    assert.equal(all[0]?.id, idAt0)
    await rejectsWith(
      withChainErrors(() => publicClient.readContract({ address: registry, abi: datasetRegistryAbi, functionName: 'idAt', args: [count] })),
      'IndexOutOfRange',
    )

    assert.deepEqual(await listDatasets(publicClient, { registry, pageSize: 1 }), all, 'paging gives the same list')
    const mine = await listDatasets(publicClient, { registry, owner: devAccount(2).address, pageSize: 2 })
    assert.deepEqual(mine.map((d) => d.id), bobIds)
    assert.ok(mine.every((d) => d.owner === devAccount(2).address))
    const paused = await listDatasets(publicClient, { registry, owner: devAccount(2).address, status: 'paused' })
    assert.deepEqual(paused.map((d) => d.id), [bobIds[1]])
    const live = await listDatasets(publicClient, { registry, status: ['active', 'paused'] })
    assert.ok(live.every((d) => d.status !== 'deleted'))
    assert.ok(all.some((d) => d.status === 'deleted'), 'the deleted dataset of an earlier test is still listed by default')
    assert.deepEqual(await listDatasets(publicClient, { registry, owner: zeroAddress }), [])
  })
})
