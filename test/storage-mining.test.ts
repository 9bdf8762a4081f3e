/**
 * Issue 16, storage mining end to end with real processes: Anvil with 1 s blocks, `w3a deploy
 * --dev`, one gateway, one keeper (which also computes), and three `w3a storage` nodes of
 * distinct operators, each its own process and data dir. An owner uploads with `--store`; the
 * assigned nodes pin every block of the dataset and serve it from their own trustless gateway;
 * each posts an enclave-audited work report on chain; a query runs on the stored dataset. Then one
 * node silently loses half its blocks: the other node's enclave challenge fails it on chain (stake
 * penalized), after maxFailures it is removed and the order goes to the third node, which repairs
 * it; the dataset stays queryable; settling the era of the failure pays the prover (with the job's
 * storage share) and not the failed node. Deleting the dataset ends the order and the nodes drop
 * its blocks.
 */
import assert from 'node:assert/strict'
import { readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import type { Address } from 'viem'
import { createChainClients, devAccount, getFreePort } from '../src/chain/index.js'
import { storageMarketAbi } from '../src/chain/abis.js'
import { getStorageMarketParams } from '../src/chain/actions/getStorageMarketParams.js'
import { getStorageOrder } from '../src/chain/actions/getStorageOrder.js'
import { getStorageNode } from '../src/chain/actions/getStorageNode.js'
import { getStorageEarnings } from '../src/chain/actions/getStorageEarnings.js'
import { getWorker } from '../src/chain/actions/getWorker.js'
import type { StorageOrder } from '../src/chain/storage.js'
import { parsePolicy } from '../src/custody/index.js'
import { buyCredits, createW3aClient, listOnMarket, runQuery, setDatasetPolicy, type W3aClient } from '../src/sdk/index.js'
import { startNodeParts, waitForKeeperSet, type NodeParts, type WorkerReady } from './node-parts.js'
import { w3aJsonAsync } from './w3a-up-process.js'
import { dagCids, served, shortStorageEras, until } from './storage-checks.js'

type StorageReady = { address: Address; url: string }

let parts: NodeParts
let gatewayUrl: string
let storageNodes: StorageReady[] = []
let chain: ReturnType<typeof createChainClients<ReturnType<typeof devAccount>>>
let storageMarket: Address
let contracts: Awaited<ReturnType<W3aClient['network']>>['contracts']
let owner: W3aClient
let analyst: W3aClient

const rows = Array.from({ length: 60 }, (_, i) => ({ user_id: `u${i % 20}`, city: i % 2 ? 'Paris' : 'Lyon', amount: (i * 7) % 100 }))
const csv = ['user_id,city,amount', ...rows.map((r) => `${r.user_id},${r.city},${r.amount}`)].join('\n')
const total = rows.reduce((s, r) => s + r.amount, 0)

const STORAGE_ACCOUNTS = [4, 5, 6]
const accountOf = (worker: Address) => STORAGE_ACCOUNTS[storageNodes.findIndex((n) => n.address.toLowerCase() === worker.toLowerCase())]!
const nodeUrl = (worker: Address) => storageNodes.find((n) => n.address.toLowerCase() === worker.toLowerCase())!.url

before(async () => {
  parts = await startNodeParts('w3a-storage-mining-')
  const gateway = await parts.gateway('gateway', '127.0.0.2', await getFreePort('127.0.0.2'))
  gatewayUrl = gateway.gatewayUrl
  const keeper: WorkerReady = await parts.worker('keeper', gatewayUrl, 3, true)
  await waitForKeeperSet([keeper], 1)

  owner = createW3aClient({ gatewayUrl, account: devAccount(1) })
  analyst = createW3aClient({ gatewayUrl, account: devAccount(2) })
  contracts = (await owner.network()).contracts
  storageMarket = contracts.storageMarket
  chain = createChainClients({ rpcUrl: parts.anvil.rpcUrl, chainId: parts.anvil.chainId, account: devAccount(0) })
  await shortStorageEras(chain, contracts)

  // Three storage nodes of three operators, each its own process and data dir.
  storageNodes = await Promise.all(STORAGE_ACCOUNTS.map((account) => parts.start<StorageReady>(['storage', '--gateway', gatewayUrl, '--data-dir', join(parts.work, `storage-${account}`), '--operator-account', String(account)])))
})

after(async () => {
  await parts?.stop()
})

test('storage mining: an upload with --store is pinned, proved each era, repaired after a node loses blocks, paid to provers, queryable throughout, dropped on deletion', async () => {
  // 1. The upload places the order; every assigned node pins every block of the dataset.
  const file = join(parts.work, 'visits.csv')
  writeFileSync(file, csv)
  // The owner's CLI pins the network once in its own data dir (trust on first use), as a newcomer does.
  const cli = ['--data-dir', join(parts.work, 'owner-cli'), '--gateway', gatewayUrl]
  await w3aJsonAsync(['network', 'add', 'local', ...cli])
  const up = await w3aJsonAsync<{ id: `0x${string}`; storageOrder: { orderId: string; nodes: Address[] } }>(
    ['dataset', 'upload', file, '--name', 'visits', '--privacy-unit', 'user_id', '--store', '--replication', '2', '--eras', '20', '--account', '1', ...cli],
  )
  const orderId = BigInt(up.storageOrder.orderId)
  const order: StorageOrder = await getStorageOrder(chain.publicClient, { storageMarket, orderId })
  assert.equal(order.status, 'active')
  assert.equal(order.nodes.length, 2)
  assert.equal(new Set(order.nodes.map((n) => n.toLowerCase())).size, 2, 'distinct nodes')
  const cids = await dagCids(gatewayUrl, order.roots)
  assert.ok(cids.length > order.roots.length, 'the dataset has more blocks than roots')
  for (const node of order.nodes) {
    await until(`node ${node} pins all ${cids.length} blocks`, 90, async () => ((await served(nodeUrl(node), cids)) === cids.length ? true : undefined))
  }
  const unassigned = storageNodes.filter((n) => !order.nodes.some((a) => a.toLowerCase() === n.address.toLowerCase()))
  assert.equal(unassigned.length, 1)
  assert.equal(await served(unassigned[0]!.url, cids), 0, 'a node not assigned holds none of its blocks')

  // 2. Each assigned node posts an enclave-audited work report on chain for an era of the order.
  for (const node of order.nodes) {
    await until(`node ${node} reports an era`, 60, async () => {
      const { currentEra } = await getStorageMarketParams(chain.publicClient, { storageMarket })
      for (let era = order.startEra; era <= currentEra; era++) {
        if (await chain.publicClient.readContract({ address: storageMarket, abi: storageMarketAbi, functionName: 'reported', args: [node, era] })) return era
      }
      return undefined
    })
  }

  // 4. A query on the stored dataset runs, with the exact answer.
  await setDatasetPolicy(owner, { id: up.id, policy: parsePolicy({ k: 2, epsilonBudget: 20, analystEpsilonBudget: 15, openAccess: true, allowExact: true, exactQueries: 100, columns: { identifiers: ['user_id'], dimensions: ['city'], measures: ['amount'] } }) })
  await listOnMarket(owner, { id: up.id, price: 10n ** 18n, summary: 'k=2; open' })
  await buyCredits(analyst, { id: up.id, credits: 2n })
  const query = async () => {
    const r = await runQuery(analyst, { id: up.id, sql: 'SELECT count(*) AS n, sum(amount) AS total FROM data', epsilon: 0 })
    assert.deepEqual(r.rows, [[String(rows.length), String(total)]])
  }
  await query()
  // The job's storage share waits in the StorageMarket for the order's next settlement.
  // (Read from its event: the nodes may settle it away at any time.)
  const credited = await chain.publicClient.getContractEvents({ address: storageMarket, abi: storageMarketAbi, eventName: 'DatasetCredited', args: { datasetId: up.id }, fromBlock: 0n })
  const credit = credited[0]?.args.amount ?? 0n
  assert.ok(credit > 0n, 'the job paid a storage share for the dataset')

  // 3. One assigned node silently loses half its blocks (deleted from its blockstore while it runs).
  const [lossy, kept] = order.nodes as [Address, Address]
  const blocksDir = join(parts.work, `storage-${accountOf(lossy)}`, 'blocks')
  const files = (readdirSync(blocksDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.data')).sort()
  assert.ok(files.length >= 2, `the node holds blocks in ${blocksDir}`)
  for (const f of files.filter((_, i) => i % 2 === 0)) rmSync(join(blocksDir, f))
  const stakeBefore = (await getWorker(chain.publicClient, { registry: contracts.workerRegistry, worker: lossy })).stake
  // The other node's enclave challenges it; the failure is recorded and its stake is lower.
  const failure = await until('a challenge failure recorded against the lossy node', 120, async () => {
    const logs = await chain.publicClient.getContractEvents({ address: storageMarket, abi: storageMarketAbi, eventName: 'ChallengeFailed', args: { orderId, node: lossy }, fromBlock: 0n })
    return logs[0]?.args
  })
  assert.equal(failure.challenger!.toLowerCase(), kept.toLowerCase())
  assert.ok((await getWorker(chain.publicClient, { registry: contracts.workerRegistry, worker: lossy })).stake < stakeBefore, 'stake penalized')
  // After maxFailures (2) it is removed and the order goes to the third operator's node, which repairs it.
  const reassigned = await until('the order reassigned away from the lossy node', 150, async () => {
    const o = await getStorageOrder(chain.publicClient, { storageMarket, orderId })
    return o.nodes.some((n) => n.toLowerCase() === lossy.toLowerCase()) ? undefined : o
  })
  assert.equal(reassigned.status, 'active')
  assert.equal(reassigned.nodes.length, 2)
  const replacement = reassigned.nodes.find((n) => n.toLowerCase() !== kept.toLowerCase())!
  assert.equal(replacement.toLowerCase(), unassigned[0]!.address.toLowerCase())
  await until('the replacement holds every block', 90, async () => ((await served(nodeUrl(replacement), cids)) === cids.length ? true : undefined))
  // 4, after the loss: still queryable.
  await query()

  // 5. The nodes settle the era of the failure themselves: the node that proved it is paid (with the job's storage share), not the failed one.
  const era = failure.era!
  const settledEvents = async () => chain.publicClient.getContractEvents({ address: storageMarket, abi: storageMarketAbi, eventName: 'Settled', args: { orderId }, fromBlock: 0n })
  const settled = await until(`era ${era} settled by the nodes, with no manual call`, 120, async () => (await settledEvents()).find((e) => e.args.era === era)?.args)
  const [, lossyFailed] = await chain.publicClient.readContract({ address: storageMarket, abi: storageMarketAbi, functionName: 'proofOf', args: [orderId, era, lossy] })
  assert.equal(lossyFailed, true, 'nothing for the failed node in its failed era')
  assert.ok(settled.provers! >= 1n, 'the prover of the era is paid')
  const withShare = await until('the job storage share settled to provers', 120, async () => (await settledEvents()).find((e) => e.args.provers! > 0n && e.args.amount! >= order.pricePerEra + credit))
  assert.ok(withShare.args.perNode! > 0n)
  const keptOp = (await getStorageNode(chain.publicClient, { storageMarket, worker: kept })).operator
  assert.ok((await getStorageEarnings(chain.publicClient, { storageMarket, account: keptOp })) >= settled.perNode!, 'the prover of the failed era earns its share')
  await until('every job storage share settled', 120, async () => ((await chain.publicClient.readContract({ address: storageMarket, abi: storageMarketAbi, functionName: 'datasetCredit', args: [up.id] })) === 0n ? true : undefined))

  // 6. Deleting the dataset ends the order, and the nodes drop its blocks.
  await w3aJsonAsync(['dataset', 'delete', up.id, '--yes', '--account', '1', ...cli])
  assert.notEqual((await getStorageOrder(chain.publicClient, { storageMarket, orderId })).status, 'active')
  for (const node of order.nodes) {
    await until(`node ${node} drops the blocks`, 60, async () => ((await served(nodeUrl(node), cids)) === 0 ? true : undefined))
  }
})
