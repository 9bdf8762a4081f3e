/**
 * The StorageMarket contract on a real Anvil (eras moved by mining blocks): assignment to distinct
 * operators, escrow and refunds, signed work reports, challenger-signed failures that penalize,
 * forfeit, remove and replace, settlement that pays only proving nodes, the Jobs storage share,
 * endOrder on deletion, and the attacks that must revert.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { bytesToHex, createTestClient, http, keccak256, toHex, type Address, type Hex, type PrivateKeyAccount } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { memoryLedgerStore } from '../enclave/storage-audit-ledger.js'
import { StorageAudit } from '../enclave/storage-audit.js'
import { createStorageSettler } from '../node/storage-settler.js'
import type { NetworkInfo } from '../core/network-info.js'
import { claimStorageEarnings as claimStorageSdk, endDatasetStorage, getStorageEarnings as storageEarningsSdk, listStorageOrdersOf, storeDataset, type W3aClient } from '../sdk/index.js'
import {
  allowMeasurement,
  buyCredits,
  challengeDigest,
  endpointHash,
  claimStorageEarnings,
  createChainClients,
  deployContracts,
  devAccount,
  encodeSimQuote,
  endStorageOrder,
  getJob,
  getStorageEarnings,
  getStorageMarketParams,
  getStorageNode,
  getStorageOrder,
  getTokenBalance,
  getWorker,
  listStorageNodes,
  listStorageOrders,
  placeStorageOrder,
  recordChallengeFailure,
  registerDataset,
  registerStorageNode,
  registerWorker,
  reportDataFor,
  setBuyerAccess,
  setDatasetStatus,
  settleStorage,
  signChallenge,
  signResult,
  signWorkReport,
  simQuoteDigest,
  startAnvil,
  storageMarketAbi,
  submitJob,
  submitResult,
  submitWorkReport,
  TxRevertedError,
  w3aTokenAbi,
  workerRegistryAbi,
  workerPossessionDigest,
  workReportDigest,
  type AnvilInstance,
  type DeployContractsReturnType,
  type StorageChallenge,
  type WorkerRole,
  type WorkReport,
  type WriteClients,
} from './index.js'

const TOKEN = 10n ** 18n
const PRICE_PER_ERA = 3n * TOKEN
const ERAS = 10
const SLASH = 10n * TOKEN
const QUERY_PRICE = 10n * TOKEN
const GB = 10n ** 9n
const M = keccak256(toHex('storage node bundle'))
const ROOTS = ['bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi', 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku']
const ZERO: Hex = `0x${'00'.repeat(32)}`
const devKey = privateKeyToAccount(generatePrivateKey())

type Node = { account: PrivateKeyAccount; address: Address; operator: WriteClients }

let anvil: AnvilInstance
let test: ReturnType<typeof createTestClient>
let d: DeployContractsReturnType
let governance: WriteClients
let owner: WriteClients
let analyst: WriteClients
let relayer: WriteClients
let ops: WriteClients[]
let datasetId: Hex
/** nodes[0] and nodes[1] share operator ops[0]; nodes[2..4] have one operator each. */
let nodes: Node[]
/** A compute worker of another operator than every node: signs challenges, runs the job. */
let checker: Node
/** A compute worker of ops[0], the operator of nodes[0] and nodes[1]. */
let sameOperatorChecker: Node

const clientsFor = (account: Parameters<typeof createChainClients>[0]['account']) => createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account })
const addr = (c: WriteClients) => c.walletClient.account.address
const balance = (a: Address) => getTokenBalance(governance.publicClient, { token: d.token, account: a })
const domain = () => ({ chainId: anvil.chainId, storageMarket: d.storageMarket })
const currentEra = async () => (await getStorageMarketParams(governance.publicClient, { storageMarket: d.storageMarket })).currentEra
const now = async () => (await governance.publicClient.getBlock()).timestamp
async function rejectsWith(p: Promise<unknown>, errorName: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => isW3aError(e, 'TX_REVERTED') && e instanceof TxRevertedError && e.errorName === errorName)
}

/** Mines until the latest block is in `era` (the next transactions run early in it). */
async function mineTo(era: bigint): Promise<void> {
  while ((await currentEra()) < era) await test.mine({ blocks: 1 })
}

/** Past `timestamp` on chain in one block (anvil's clock need not follow the enclave's). */
async function passOnChain(timestamp: bigint): Promise<void> {
  if ((await now()) > timestamp) return
  await test.setNextBlockTimestamp({ timestamp: timestamp + 1n })
  await test.mine({ blocks: 1 })
}

async function newWorker(operator: WriteClients, roles: WorkerRole[]): Promise<Node> {
  const account = privateKeyToAccount(generatePrivateKey())
  const hpkePublicKey = bytesToHex(randomBytes(32))
  const reportData = reportDataFor({ worker: account.address, hpkePublicKey, chainId: anvil.chainId, registry: d.workerRegistry })
  await registerWorker(operator, {
    registry: d.workerRegistry,
    worker: account.address,
    teeType: 'sim',
    measurement: M,
    hpkePublicKey,
    roles,
    endpoint: 'http://127.0.0.1:9000',
    quote: encodeSimQuote({ measurement: M, reportData, signature: await devKey.signMessage({ message: { raw: simQuoteDigest(M, reportData) } }) }),
    workerSignature: await account.sign({ hash: workerPossessionDigest({ chainId: anvil.chainId, registry: d.workerRegistry, operator: addr(operator) }) }),
    gasFunding: TOKEN / 10n,
  })
  return { account, address: account.address, operator }
}

function report(node: Node, era: bigint, orderIds: bigint[], blocksFailed = 0): WorkReport {
  return {
    node: node.address,
    era,
    heldRoot: keccak256(toHex(`held ${node.address} ${era}`)),
    bytesHeld: 1234n,
    blocksSampled: 16,
    blocksFailed,
    addedRoot: ZERO,
    droppedRoot: ZERO,
    orderIds,
  }
}

async function prove(node: Node, era: bigint, orderIds: bigint[], blocksFailed = 0) {
  const r = report(node, era, orderIds, blocksFailed)
  return submitWorkReport(relayer, { storageMarket: d.storageMarket, report: r, signature: await signWorkReport(node.account, domain(), r) })
}

/** The endpoint each node registers (the one a challenge must name). */
const endpointOf = (node: Node) => `http://node-${nodes.indexOf(node)}`

async function challenge(node: Node, orderId: bigint, era: bigint, reason: 1 | 2 = 1): Promise<StorageChallenge> {
  const t = await now()
  return { node: node.address, orderId, cid: ROOTS[0]!, era, issuedAt: t - 20n, deadline: t - 10n, reason, endpointHash: endpointHash(endpointOf(node)) }
}

async function fail(c: StorageChallenge, signer: Node = checker) {
  return recordChallengeFailure(relayer, { storageMarket: d.storageMarket, challenge: c, signature: await signChallenge(signer.account, domain(), c) })
}

async function place(replication = 3, eras = ERAS) {
  return placeStorageOrder(owner, { storageMarket: d.storageMarket, datasetId, roots: ROOTS, sizeBytes: GB, replication, eras, pricePerEra: PRICE_PER_ERA })
}

const operatorOf = (a: Address) => nodes.find((n) => n.address === a)!.operator

before(async () => {
  anvil = await startAnvil({ port: 0 })
  test = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) })
  governance = clientsFor(devAccount(0))
  owner = clientsFor(devAccount(1))
  analyst = clientsFor(devAccount(2))
  relayer = clientsFor(devAccount(3))
  ops = [4, 5, 6, 7, 8, 9].map((i) => clientsFor(devAccount(i)))
  d = await deployContracts({
    ...governance,
    devAttestationSigner: devKey.address,
    // Mining blocks moves anvil's clock a second per block: keep workers online through it.
    workerRegistryParams: { heartbeatTimeout: 10_000_000n },
    storageParams: { eraLength: 20n, maxFailures: 2, challengeSlash: SLASH },
    jobsParams: { storageBps: 1000 },
  })
  for (const c of [owner, analyst, ...ops]) {
    const { request } = await governance.publicClient.simulateContract({ address: d.token, abi: w3aTokenAbi, functionName: 'mint', args: [addr(c), 1_000n * TOKEN], account: governance.walletClient.account })
    await governance.publicClient.waitForTransactionReceipt({ hash: await governance.walletClient.writeContract(request) })
  }
  await allowMeasurement(governance, { registry: d.workerRegistry, measurement: M })
  nodes = []
  for (const op of [ops[0]!, ops[0]!, ops[1]!, ops[2]!, ops[3]!]) nodes.push(await newWorker(op, ['storage']))
  checker = await newWorker(ops[4]!, ['compute'])
  sameOperatorChecker = await newWorker(ops[0]!, ['compute'])
  const reg = await registerDataset(owner, { registry: d.datasetRegistry, salt: bytesToHex(randomBytes(32)), name: 'visits', manifestCid: ROOTS[1]!, schemaHash: keccak256(toHex('schema')), pricePerQuery: QUERY_PRICE })
  datasetId = reg.id
})
after(async () => {
  await anvil?.stop()
})

describe('StorageMarket (real anvil)', () => {
  it('is deployed as a registry slasher and the jobs contract\'s storage market', async () => {
    const { publicClient } = governance
    assert.equal(await publicClient.readContract({ address: d.workerRegistry, abi: workerRegistryAbi, functionName: 'isSlasher', args: [d.storageMarket] }), true)
    const p = await getStorageMarketParams(publicClient, { storageMarket: d.storageMarket })
    assert.deepEqual({ eraLength: p.eraLength, maxFailures: p.maxFailures, challengeSlash: p.challengeSlash, jobs: p.jobs }, { eraLength: 20n, maxFailures: 2, challengeSlash: SLASH, jobs: d.jobs })
  })

  it('registers storage nodes only from their operator, with the storage role', async () => {
    await rejectsWith(registerStorageNode(ops[1]!, { storageMarket: d.storageMarket, worker: nodes[0]!.address, endpoint: 'http://x', capacityBytes: 10n * GB }), 'NotWorkerOperator')
    await rejectsWith(registerStorageNode(ops[4]!, { storageMarket: d.storageMarket, worker: checker.address, endpoint: 'http://x', capacityBytes: 10n * GB }), 'NotStorageWorker')
    // nodes[4] (ops[3]) registers last, so it is the spare the repair picks.
    for (const n of nodes) await registerStorageNode(n.operator, { storageMarket: d.storageMarket, worker: n.address, endpoint: endpointOf(n), capacityBytes: 10n * GB })
    const listed = await listStorageNodes(governance.publicClient, { storageMarket: d.storageMarket })
    assert.deepEqual(
      listed.map((n) => [n.worker, n.operator, n.endpoint, n.capacityBytes, n.eligible]),
      nodes.map((n, i) => [n.address, addr(n.operator), `http://node-${i}`, 10n * GB, true]),
    )
  })

  it('assigns an order to nodes of distinct operators and escrows price × eras', async () => {
    await rejectsWith(placeStorageOrder(analyst, { storageMarket: d.storageMarket, datasetId, roots: ROOTS, sizeBytes: GB, eras: 2, pricePerEra: 1n }), 'NotDatasetOwner')
    // Five nodes but four operators: a replication of five cannot be met.
    await rejectsWith(place(5), 'NotEnoughStorageNodes')
    const [o0, m0] = await Promise.all([balance(addr(owner)), balance(d.storageMarket)])
    const placed = await place(3)
    assert.equal(placed.orderId, 0n)
    // Round robin from the first node: nodes[1] is skipped, its operator already holds the order.
    assert.deepEqual(placed.nodes, [nodes[0]!.address, nodes[2]!.address, nodes[3]!.address])
    assert.equal(new Set(placed.nodes.map((n) => addr(operatorOf(n)))).size, 3, 'three distinct operators')
    assert.equal(await balance(addr(owner)), o0 - PRICE_PER_ERA * BigInt(ERAS))
    assert.equal(await balance(d.storageMarket), m0 + PRICE_PER_ERA * BigInt(ERAS))
    const o = await getStorageOrder(governance.publicClient, { storageMarket: d.storageMarket, orderId: 0n })
    assert.deepEqual(
      { ...o, nodes: [...o.nodes].sort() },
      {
        id: 0n,
        datasetId,
        owner: addr(owner),
        sizeBytes: GB,
        replication: 3,
        eras: ERAS,
        startEra: o.startEra,
        endEra: o.startEra + BigInt(ERAS),
        status: 'active',
        pricePerEra: PRICE_PER_ERA,
        escrow: PRICE_PER_ERA * BigInt(ERAS),
        nodes: [...placed.nodes].sort(),
        roots: ROOTS,
      },
    )
    assert.equal(o.startEra, (await currentEra()) + 1n, 'the first paid era is the next one')
    for (const n of placed.nodes) {
      const info = await getStorageNode(governance.publicClient, { storageMarket: d.storageMarket, worker: n })
      assert.deepEqual([info.usedBytes, info.orderIds], [GB, [0n]])
    }
    assert.deepEqual((await listStorageOrders(governance.publicClient, { storageMarket: d.storageMarket, datasetId })).map((x) => x.id), [0n])
  })

  it('work report and challenge digests match the contract byte for byte', async () => {
    const read = { address: d.storageMarket, abi: storageMarketAbi } as const
    const r = report(nodes[0]!, 7n, [0n, 5n], 1)
    assert.equal(await governance.publicClient.readContract({ ...read, functionName: 'workReportDigest', args: [r] }), workReportDigest(domain(), r))
    const c = await challenge(nodes[1]!, 3n, 9n, 2)
    assert.equal(await governance.publicClient.readContract({ ...read, functionName: 'challengeDigest', args: [c] }), challengeDigest(domain(), c))
    assert.notEqual(workReportDigest(domain(), r), workReportDigest({ ...domain(), chainId: 1 }, r))
  })

  it('accepts a report once per node and era, signed by the node, for the current or previous era', async () => {
    const o = await getStorageOrder(governance.publicClient, { storageMarket: d.storageMarket, orderId: 0n })
    const e = o.startEra
    await mineTo(e)
    const [a, b, c] = o.nodes.map((n) => nodes.find((x) => x.address === n)!)
    const r = report(a!, e, [0n])
    await rejectsWith(submitWorkReport(relayer, { storageMarket: d.storageMarket, report: r, signature: await signWorkReport(b!.account, domain(), r) }), 'BadReportSignature')
    await rejectsWith(prove(a!, e + 1n, [0n]), 'ReportEraOutOfWindow')
    await rejectsWith(prove(checker, e, [0n]), 'UnknownNode')
    assert.equal((await prove(a!, e, [0n, 0n, 99n])).proved, 1n, 'duplicates and unknown orders prove nothing more')
    const replay = report(a!, e, [0n])
    await rejectsWith(submitWorkReport(relayer, { storageMarket: d.storageMarket, report: replay, signature: await signWorkReport(a!.account, domain(), replay) }), 'AlreadyReported')
    assert.equal((await prove(b!, e, [0n], 1)).proved, 0n, 'a report with failed samples proves nothing')
    assert.equal((await prove(c!, e, [0n])).proved, 1n)
    const unassigned = nodes.find((n) => !o.nodes.includes(n.address))!
    assert.equal((await prove(unassigned, e, [0n])).proved, 0n, 'a node not on the order cannot prove it')
    await mineTo(e + 2n)
    await rejectsWith(prove(b!, e, [0n]), 'ReportEraOutOfWindow')
  })

  it('settles an era once, after its report window, paying only the nodes that proved it', async () => {
    const o = await getStorageOrder(governance.publicClient, { storageMarket: d.storageMarket, orderId: 0n })
    const e = o.startEra
    const [a, b, c] = o.nodes.map((n) => nodes.find((x) => x.address === n)!)
    await rejectsWith(settleStorage(relayer, { storageMarket: d.storageMarket, orderId: 0n, era: e + 1n }), 'EraNotSettleable')
    await rejectsWith(settleStorage(relayer, { storageMarket: d.storageMarket, orderId: 0n, era: e - 1n }), 'EraNotSettleable')
    const earned = (n: Node) => getStorageEarnings(governance.publicClient, { storageMarket: d.storageMarket, account: addr(n.operator) })
    const before = await Promise.all([a!, b!, c!].map(earned))
    const s = await settleStorage(relayer, { storageMarket: d.storageMarket, orderId: 0n, era: e })
    assert.deepEqual([s.amount, s.provers, s.perNode], [PRICE_PER_ERA, 2n, PRICE_PER_ERA / 2n])
    const gained = (await Promise.all([a!, b!, c!].map(earned))).map((x, i) => x - before[i]!)
    assert.deepEqual(gained, [PRICE_PER_ERA / 2n, 0n, PRICE_PER_ERA / 2n], 'the node whose samples failed earns nothing')
    await rejectsWith(settleStorage(relayer, { storageMarket: d.storageMarket, orderId: 0n, era: e }), 'AlreadySettled')
    assert.equal((await getStorageOrder(governance.publicClient, { storageMarket: d.storageMarket, orderId: 0n })).escrow, PRICE_PER_ERA * BigInt(ERAS - 1))
  })

  it('a failed challenge penalizes and forfeits; the second removes the node and assigns a replacement', async () => {
    const o = await getStorageOrder(governance.publicClient, { storageMarket: d.storageMarket, orderId: 0n })
    const e = await currentEra()
    const victim = nodes.find((n) => n.address === o.nodes[0])!
    const others = o.nodes.slice(1).map((n) => nodes.find((x) => x.address === n)!)
    // Attacks first: nothing recorded.
    const sameOp = o.nodes.map((n) => nodes.find((x) => x.address === n)!).find((n) => addr(n.operator) === addr(ops[0]!))
    if (sameOp) await rejectsWith(fail(await challenge(sameOp, 0n, e), sameOperatorChecker), 'SameOperatorChallenger')
    await rejectsWith(fail(await challenge(victim, 0n, e), { ...checker, account: privateKeyToAccount(generatePrivateKey()) }), 'ChallengerNotEligible')
    await rejectsWith(fail({ ...(await challenge(victim, 0n, e)), deadline: (await now()) + 600n, issuedAt: await now() }), 'ChallengeDeadlineNotPassed')
    await rejectsWith(fail({ ...(await challenge(victim, 0n, e)), reason: 3 as 1 }), 'InvalidChallengeReason')
    await rejectsWith(fail(await challenge(checker, 0n, e)), 'NodeNotAssigned')
    await rejectsWith(fail(await challenge(victim, 0n, e + 1n)), 'ChallengeEraOutOfWindow')
    const c = await challenge(victim, 0n, e)
    const signature = await signChallenge(checker.account, domain(), c)
    await rejectsWith(recordChallengeFailure(relayer, { storageMarket: d.storageMarket, challenge: { ...c, cid: ROOTS[1]! }, signature }), 'ChallengerNotEligible')

    const stake0 = (await getWorker(governance.publicClient, { registry: d.workerRegistry, worker: victim.address })).stake
    for (const n of [victim, ...others]) await prove(n, e, [0n])
    const first = await recordChallengeFailure(relayer, { storageMarket: d.storageMarket, challenge: c, signature })
    assert.deepEqual([first.challenger, first.slashed, first.failures, first.removed], [checker.address, SLASH, 1, false])
    assert.equal((await getWorker(governance.publicClient, { registry: d.workerRegistry, worker: victim.address })).stake, stake0 - SLASH)
    await rejectsWith(recordChallengeFailure(relayer, { storageMarket: d.storageMarket, challenge: c, signature }), 'FailureAlreadyRecorded')
    const read = { address: d.storageMarket, abi: storageMarketAbi } as const
    assert.deepEqual(await governance.publicClient.readContract({ ...read, functionName: 'proofOf', args: [0n, e, victim.address] }), [true, true])

    await mineTo(e + 1n)
    const second = await fail(await challenge(victim, 0n, e + 1n, 2))
    assert.deepEqual([second.failures, second.removed, second.replacements.length], [2, true, 1])
    const replacement = second.replacements[0]!
    const after = await getStorageOrder(governance.publicClient, { storageMarket: d.storageMarket, orderId: 0n })
    assert.equal(after.nodes.length, 3)
    assert.ok(!after.nodes.includes(victim.address))
    assert.ok(after.nodes.includes(replacement))
    assert.equal(new Set(after.nodes.map((n) => addr(operatorOf(n)))).size, 3, 'still three distinct operators')
    assert.deepEqual((await getStorageNode(governance.publicClient, { storageMarket: d.storageMarket, worker: victim.address })).orderIds, [])
    assert.equal((await getStorageNode(governance.publicClient, { storageMarket: d.storageMarket, worker: victim.address })).failures, 2)

    // The era of the first failure pays the two others only, even though the victim proved it.
    await mineTo(e + 2n)
    const s = await settleStorage(relayer, { storageMarket: d.storageMarket, orderId: 0n, era: e })
    assert.deepEqual([s.provers, s.perNode], [2n, PRICE_PER_ERA / 2n])
  })

  it('credits the storage share of a job payout to the nodes that proved the dataset', async () => {
    await setDatasetStatus(owner, { registry: d.datasetRegistry, id: datasetId, status: 'active' })
    await setBuyerAccess(owner, { market: d.market, datasetId, open: true })
    await buyCredits(analyst, { market: d.market, datasetId, credits: 1n })
    const job = await submitJob(analyst, {
      jobs: d.jobs,
      datasetId,
      analysisCid: ROOTS[1]!,
      analysisHash: keccak256(toHex('SELECT count(*) FROM data')),
      privacyParamsHash: keccak256(toHex('{"k":10}')),
      fee: 0n,
    })
    const j = await getJob(governance.publicClient, { jobs: d.jobs, jobId: job.jobId })
    const worker = [checker, sameOperatorChecker].find((w) => w.address === j.worker)!
    const outputHash = keccak256(toHex('output'))
    const signature = await signResult(worker.account, { chainId: anvil.chainId, jobs: d.jobs, jobId: j.id, inputCidsHash: j.inputCidsHash, analysisHash: j.analysisHash, privacyParamsHash: j.privacyParamsHash, outputHash })
    const m0 = await balance(d.storageMarket)
    const paid = await submitResult(clientsFor(worker.account), { jobs: d.jobs, jobId: j.id, outputHash, signature })
    const share = QUERY_PRICE / 10n
    assert.equal(paid.ownerAmount, (QUERY_PRICE * 70n) / 100n - share, 'the storage share comes out of the owner share')
    assert.equal(await balance(d.storageMarket), m0 + share)
    const read = { address: d.storageMarket, abi: storageMarketAbi } as const
    assert.equal(await governance.publicClient.readContract({ ...read, functionName: 'datasetCredit', args: [datasetId] }), share)

    // The next settlement with provers takes it: two of the three nodes prove this era.
    const e = await currentEra()
    const o = await getStorageOrder(governance.publicClient, { storageMarket: d.storageMarket, orderId: 0n })
    const [p1, p2] = o.nodes.map((n) => nodes.find((x) => x.address === n)!)
    await prove(p1!, e, [0n])
    await prove(p2!, e, [0n])
    await mineTo(e + 2n)
    const s = await settleStorage(relayer, { storageMarket: d.storageMarket, orderId: 0n, era: e })
    assert.deepEqual([s.amount, s.provers, s.perNode], [PRICE_PER_ERA + share, 2n, (PRICE_PER_ERA + share) / 2n])
    assert.equal(await governance.publicClient.readContract({ ...read, functionName: 'datasetCredit', args: [datasetId] }), 0n)

    // Claims move the tokens.
    const op = p1!.operator
    const owed = await getStorageEarnings(governance.publicClient, { storageMarket: d.storageMarket, account: addr(op) })
    const b0 = await balance(addr(op))
    assert.equal((await claimStorageEarnings(op, { storageMarket: d.storageMarket })).amount, owed)
    assert.equal(await balance(addr(op)), b0 + owed)
    await rejectsWith(claimStorageEarnings(op, { storageMarket: d.storageMarket }), 'NothingToClaim')
  })

  it('ends an order when the dataset is deleted: refunds the remaining eras, frees the nodes', async () => {
    const o = await getStorageOrder(governance.publicClient, { storageMarket: d.storageMarket, orderId: 0n })
    await rejectsWith(endStorageOrder(relayer, { storageMarket: d.storageMarket, orderId: 0n }), 'NotOrderOwner')
    await setDatasetStatus(owner, { registry: d.datasetRegistry, id: datasetId, status: 'deleted' })
    const o0 = await balance(addr(owner))
    const ended = await endStorageOrder(relayer, { storageMarket: d.storageMarket, orderId: 0n })
    const e = await currentEra()
    assert.equal(ended.refund, PRICE_PER_ERA * (o.endEra - e))
    assert.equal(await balance(addr(owner)), o0 + ended.refund)
    const after = await getStorageOrder(governance.publicClient, { storageMarket: d.storageMarket, orderId: 0n })
    assert.deepEqual([after.status, after.endEra], ['ended', e])
    for (const n of after.nodes) assert.deepEqual((await getStorageNode(governance.publicClient, { storageMarket: d.storageMarket, worker: n })).usedBytes, 0n)
    await rejectsWith(endStorageOrder(owner, { storageMarket: d.storageMarket, orderId: 0n }), 'OrderNotActive')
    await rejectsWith(place(3), 'DatasetDeleted')
    // The escrow left covers exactly the eras before the end that are not settled yet.
    let unsettled = 0n
    for (let era = o.startEra; era < e; era++) {
      if (!(await governance.publicClient.readContract({ address: d.storageMarket, abi: storageMarketAbi, functionName: 'settled', args: [0n, era] }))) unsettled++
    }
    assert.ok(unsettled > 0n && unsettled < e - o.startEra)
    assert.equal(after.escrow, PRICE_PER_ERA * unsettled)
  })
  it('the SDK places an order for an owner\'s dataset and ends it with a full refund before it starts', async () => {
    const { token, datasetRegistry, workerRegistry, custodyInbox, market, jobs, campaigns, storageMarket } = d
    const network: NetworkInfo = { name: 'test', chainId: anvil.chainId, rpcUrl: anvil.rpcUrl, contracts: { token, datasetRegistry, workerRegistry, custodyInbox, market, jobs, campaigns, storageMarket }, dev: true }
    const sdk = (account: PrivateKeyAccount | ReturnType<typeof devAccount>): W3aClient => ({ gateway: undefined as never, account, network: async () => network })
    const ownerClient = sdk(devAccount(1))
    const reg = await registerDataset(owner, { registry: d.datasetRegistry, salt: bytesToHex(randomBytes(32)), name: 'kept', manifestCid: ROOTS[0]!, schemaHash: keccak256(toHex('schema')), pricePerQuery: QUERY_PRICE })
    const b0 = await balance(addr(owner))
    const o = await storeDataset(ownerClient, { id: reg.id, manifestCid: ROOTS[0]!, sizeBytes: 5000n, replication: 2, eras: 4, pricePerEra: TOKEN })
    assert.equal(o.escrow.amount, 4n * TOKEN)
    assert.equal(await balance(addr(owner)), b0 - 4n * TOKEN)
    const listed = await listStorageOrdersOf(ownerClient, { datasetId: reg.id })
    assert.deepEqual(listed.orders.map((x) => [x.id, x.roots, x.sizeBytes, x.nodes.length, x.status]), [[o.orderId, [ROOTS[0]], 5000n, 2, 'active']])
    const ended = await endDatasetStorage(ownerClient, { id: reg.id })
    assert.deepEqual(ended.ended.map((x) => [x.orderId, x.refund.amount]), [[o.orderId, 4n * TOKEN]])
    assert.equal(await balance(addr(owner)), b0)
    assert.deepEqual((await endDatasetStorage(ownerClient, { id: reg.id })).ended, [], 'nothing left to end')
    const stranger = sdk(privateKeyToAccount(generatePrivateKey()))
    assert.equal((await storageEarningsSdk(stranger)).claimable.amount, 0n)
    await assert.rejects(claimStorageSdk(stranger), (e: unknown) => isW3aError(e, 'NOTHING_TO_CLAIM'))
  })
  it('a challenger host cannot have a node failed at an address that is not its registered endpoint', async () => {
    const reg = await registerDataset(owner, { registry: d.datasetRegistry, salt: bytesToHex(randomBytes(32)), name: 'aimed', manifestCid: ROOTS[1]!, schemaHash: keccak256(toHex('schema')), pricePerQuery: QUERY_PRICE })
    const placed = await placeStorageOrder(owner, { storageMarket: d.storageMarket, datasetId: reg.id, roots: ROOTS, sizeBytes: GB, replication: 2, eras: ERAS, pricePerEra: PRICE_PER_ERA })
    const o = await getStorageOrder(governance.publicClient, { storageMarket: d.storageMarket, orderId: placed.orderId })
    await mineTo(o.startEra)
    const target = nodes.find((n) => n.address === o.nodes[0])!
    const bystander = nodes.find((n) => n !== target)!
    // The challenger's real enclave code: it fetches from whatever endpoint its host names.
    const enclave = new StorageAudit(checker.account, domain(), memoryLedgerStore())
    const signedFailure = async (endpoint: string) => {
      const out = await enclave.challenge({ node: target.address, endpoint, orderId: placed.orderId, cid: ROOTS[1]!, era: await currentEra(), deadlineMs: 300 })
      if (out.served) throw new Error('nothing listens there: the fetch cannot succeed')
      await passOnChain(out.challenge.deadline)
      return { storageMarket: d.storageMarket, challenge: out.challenge, signature: out.signature }
    }
    // The attack: the host aims its enclave at a dead address, or at another node's endpoint; the enclave truly saw nothing served there.
    for (const wrong of ['http://127.0.0.1:1', endpointOf(bystander)]) await rejectsWith(recordChallengeFailure(relayer, await signedFailure(wrong)), 'ChallengeEndpointMismatch')

    // At the node's registered endpoint the failure counts, even when the node moves away before it is recorded; it cannot move twice in an era.
    const failure = await signedFailure(endpointOf(target))
    await registerStorageNode(target.operator, { storageMarket: d.storageMarket, worker: target.address, endpoint: 'http://moved.invalid', capacityBytes: 10n * GB })
    await rejectsWith(registerStorageNode(target.operator, { storageMarket: d.storageMarket, worker: target.address, endpoint: 'http://moved-again.invalid', capacityBytes: 10n * GB }), 'EndpointChangedThisEra')
    const recorded = await recordChallengeFailure(relayer, failure)
    assert.deepEqual([recorded.challenger, recorded.failures], [checker.address, 1])
    // The endpoint it left counts only for challenges issued before it left (chain time here: anvil's clock is not the enclave's).
    const t = (await now()) + 1n
    await passOnChain(t)
    await rejectsWith(fail({ ...failure.challenge, issuedAt: t, deadline: t }), 'ChallengeEndpointMismatch')
  })

  it('storage nodes settle their due eras themselves, taking turns, and forget an order once it ended and is settled', async () => {
    const reg = await registerDataset(owner, { registry: d.datasetRegistry, salt: bytesToHex(randomBytes(32)), name: 'self-settled', manifestCid: ROOTS[1]!, schemaHash: keccak256(toHex('schema')), pricePerQuery: QUERY_PRICE })
    const placed = await placeStorageOrder(owner, { storageMarket: d.storageMarket, datasetId: reg.id, roots: ROOTS, sizeBytes: GB, replication: 2, eras: 3, pricePerEra: PRICE_PER_ERA })
    const o = await getStorageOrder(governance.publicClient, { storageMarket: d.storageMarket, orderId: placed.orderId })
    const assigned = o.nodes.map((a) => nodes.find((n) => n.address === a)!)
    const settlers = assigned.map((n) => createStorageSettler({ publicClient: governance.publicClient, operator: n.operator, storageMarket: d.storageMarket, self: n.address }))
    for (const s of settlers) s.track([o])
    const start = o.startEra
    // The node at index (era mod 2) of the order settles that era; the other waits.
    const [onTurn, offTurn] = start % 2n === 0n ? [settlers[0]!, settlers[1]!] : [settlers[1]!, settlers[0]!]
    const earned = () => Promise.all(assigned.map((n) => getStorageEarnings(governance.publicClient, { storageMarket: d.storageMarket, account: addr(n.operator) })))
    const id = placed.orderId

    await mineTo(start)
    for (const n of assigned) await prove(n, start, [id])
    await mineTo(start + 2n)
    const before = await earned()
    assert.deepEqual(await offTurn.settleDue(await currentEra()), [], 'not its turn')
    assert.deepEqual(await onTurn.settleDue(await currentEra()), [{ orderId: id, era: start }])
    assert.deepEqual((await earned()).map((x, i) => x - before[i]!), [PRICE_PER_ERA / 2n, PRICE_PER_ERA / 2n], 'both provers paid, with no manual settle')

    // The next era is offTurn's; offTurn never runs (a node gone), so onTurn steps in one era later.
    await mineTo(start + 3n)
    assert.deepEqual(await onTurn.settleDue(await currentEra()), [], 'the other node still has its turn')
    await mineTo(start + 4n)
    assert.deepEqual(await onTurn.settleDue(await currentEra()), [{ orderId: id, era: start + 1n }, { orderId: id, era: start + 2n }])
    assert.deepEqual(await offTurn.settleDue(await currentEra()), [], 'nothing left, nothing sent twice')

    // Every era settled, but the order still active: kept until it ends.
    assert.deepEqual(onTurn.tracked(), [id])
    await endStorageOrder(relayer, { storageMarket: d.storageMarket, orderId: id })
    await onTurn.settleDue(await currentEra())
    assert.deepEqual(onTurn.tracked(), [])
  })

})
