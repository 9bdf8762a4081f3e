// Assignment that cannot be jammed: thousands of workers that registered and exited leave the
// gas of submitJob, timeout and the keeper views where it was with two workers (the registry's
// active sets drop them, swap-and-pop), and staked-but-offline workers cost a bounded scan that
// anyone can clear with `prune`. Gas is deterministic on Anvil, so these bounds are exact checks.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { bytesToHex, createTestClient, encodeFunctionData, http, keccak256, toHex, type Address, type Hex, type PrivateKeyAccount } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import {
  allowMeasurement,
  buyCredits,
  createChainClients,
  deployContracts,
  devAccount,
  encodeSimQuote,
  heartbeat,
  jobsAbi,
  pruneWorkers,
  registerDataset,
  reportDataFor,
  setBuyerAccess,
  setDatasetStatus,
  simQuoteDigest,
  startAnvil,
  submitJob,
  timeoutJob,
  TxRevertedError,
  w3aTokenAbi,
  workerPossessionDigest,
  workerRegistryAbi,
  type AnvilInstance,
  type DeployContractsReturnType,
  type WriteClients,
} from './index.js'

const TOKEN = 10n ** 18n
const STAKE = 100n * TOKEN
const EXITED = 2000
const OFFLINE = 100 // more than Jobs.MAX_ASSIGN_SCAN
const M = keccak256(toHex('worker bundle v1'))
const ROLES = 3 // compute | keeper
const devKey = privateKeyToAccount(generatePrivateKey())

let anvil: AnvilInstance
let d: DeployContractsReturnType
let governance: WriteClients
let owner: WriteClients
let analyst: WriteClients
let operator: WriteClients
let datasetId: Hex
const live: { account: PrivateKeyAccount; clients: WriteClients }[] = []

const clientsFor = (account: PrivateKeyAccount | ReturnType<typeof devAccount>): WriteClients => createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account })
const addr = (c: WriteClients) => c.walletClient.account.address

const txOptions = (nonce: number) => ({ gas: 1_000_000n, nonce, chain: null, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n })

/** Sends every transaction with automine off, then mines big blocks until the last is in: far fewer blocks than one per transaction. */
async function inBatch(send: (i: number, nonce: number) => Promise<Hex>, n: number): Promise<void> {
  const test = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) })
  const { publicClient } = operator
  let nonce = await publicClient.getTransactionCount({ address: addr(operator) })
  await test.setAutomine(false)
  let last: Hex | undefined
  try {
    for (let i = 0; i < n; i++) last = await send(i, nonce++)
    for (;;) {
      await test.mine({ blocks: 1 })
      const receipt = await publicClient.getTransactionReceipt({ hash: last! }).catch(() => undefined)
      if (receipt) {
        assert.equal(receipt.status, 'success')
        break
      }
    }
  } finally {
    await test.setAutomine(true)
  }
}

/** Sends `register` for fresh sim workers straight from the operator (explicit nonce and gas, no per-call simulation), then waits for the last. */
async function registerMany(n: number): Promise<PrivateKeyAccount[]> {
  const workers = Array.from({ length: n }, () => privateKeyToAccount(generatePrivateKey()))
  const possession = workerPossessionDigest({ chainId: anvil.chainId, registry: d.workerRegistry, operator: addr(operator) })
  await inBatch(async (i, nonce) => {
    const account = workers[i]!
    const hpkePublicKey = bytesToHex(randomBytes(32))
    const reportData = reportDataFor({ worker: account.address, hpkePublicKey, chainId: anvil.chainId, registry: d.workerRegistry })
    const simSig = await devKey.signMessage({ message: { raw: simQuoteDigest(M, reportData) } })
    const quote = encodeSimQuote({ measurement: M, reportData, signature: simSig })
    return operator.walletClient.writeContract({
      address: d.workerRegistry,
      abi: workerRegistryAbi,
      functionName: 'register',
      args: [
        { worker: account.address, teeType: 0, measurement: M, hpkePublicKey, roles: ROLES, endpoint: 'http://127.0.0.1:9000', attestationHash: keccak256(quote), attestedAt: 0n },
        await account.sign({ hash: possession }),
        simSig,
        [],
      ],
      ...txOptions(nonce),
    })
  }, n)
  return workers
}

async function exitAll(workers: readonly PrivateKeyAccount[]): Promise<void> {
  await inBatch(
    (i, nonce) => operator.walletClient.writeContract({ address: d.workerRegistry, abi: workerRegistryAbi, functionName: 'requestExit', args: [workers[i]!.address], ...txOptions(nonce) }),
    workers.length,
  )
}

async function submit(): Promise<{ jobId: bigint; gas: bigint; worker: Address }> {
  const r = await submitJob(analyst, {
    jobs: d.jobs,
    datasetId,
    analysisCid: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
    analysisHash: keccak256(toHex(`q ${randomBytes(4).toString('hex')}`)),
    privacyParamsHash: keccak256(toHex('{}')),
    fee: 0n,
  })
  const receipt = await analyst.publicClient.getTransactionReceipt({ hash: r.hash })
  return { jobId: r.jobId, gas: receipt.gasUsed, worker: r.worker }
}

/** Past the deadline with both live workers heard from: the timeout reassigns. */
async function timeoutGas(jobId: bigint): Promise<bigint> {
  const test = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) })
  await test.increaseTime({ seconds: 121 })
  await test.mine({ blocks: 1 })
  for (const w of live) await heartbeat(w.clients, { registry: d.workerRegistry })
  const r = await timeoutJob(owner, { jobs: d.jobs, jobId })
  assert.equal(r.outcome, 'reassigned')
  return (await owner.publicClient.getTransactionReceipt({ hash: r.hash })).gasUsed
}

const viewGas = (functionName: 'keepers' | 'activeKeeperCount') =>
  governance.publicClient.estimateGas({ to: d.workerRegistry, data: encodeFunctionData({ abi: workerRegistryAbi, functionName }), account: addr(governance) })
const keeperViewsGas = async () => (await viewGas('keepers')) + (await viewGas('activeKeeperCount'))

before(async () => {
  anvil = await startAnvil({ port: 0 })
  governance = clientsFor(devAccount(0))
  owner = clientsFor(devAccount(1))
  analyst = clientsFor(devAccount(2))
  operator = clientsFor(devAccount(4))
  d = await deployContracts({ ...governance, devAttestationSigner: devKey.address })
  for (const [c, amount] of [[analyst, 1_000n * TOKEN], [operator, BigInt(EXITED + OFFLINE + 10) * STAKE]] as const) {
    const { request } = await governance.publicClient.simulateContract({ address: d.token, abi: w3aTokenAbi, functionName: 'mint', args: [addr(c), amount], account: governance.walletClient.account })
    await governance.publicClient.waitForTransactionReceipt({ hash: await governance.walletClient.writeContract(request) })
  }
  const approve = await operator.walletClient.writeContract({ address: d.token, abi: w3aTokenAbi, functionName: 'approve', args: [d.workerRegistry, 2n ** 255n], chain: null })
  await operator.publicClient.waitForTransactionReceipt({ hash: approve })
  await allowMeasurement(governance, { registry: d.workerRegistry, measurement: M })
  datasetId = (await registerDataset(owner, { registry: d.datasetRegistry, salt: bytesToHex(randomBytes(32)), name: 'visits', manifestCid: 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi', schemaHash: keccak256(toHex('s')), pricePerQuery: 0n })).id
  await setDatasetStatus(owner, { registry: d.datasetRegistry, id: datasetId, status: 'active' })
  await setBuyerAccess(owner, { market: d.market, datasetId, open: true })
  await buyCredits(analyst, { market: d.market, datasetId, credits: 20n })
  for (const account of await registerMany(2)) {
    const fund = await governance.walletClient.sendTransaction({ to: account.address, value: TOKEN, chain: null })
    await governance.publicClient.waitForTransactionReceipt({ hash: fund })
    live.push({ account, clients: clientsFor(account) })
  }
})
after(async () => {
  await anvil?.stop()
})

describe('assignment with thousands of exited workers (real anvil)', () => {
  it(`submitJob, timeout and the keeper views cost the same with ${EXITED} exited workers as with none`, async () => {
    const before = { submit: await submit(), keepers: await keeperViewsGas() }
    const beforeTimeout = await timeoutGas(before.submit.jobId)
    // A second round first, so both rounds compare warm slots alike (cursor, job array length).
    const warm = await submit()
    const warmTimeout = await timeoutGas(warm.jobId)

    await exitAll(await registerMany(EXITED))
    const count = await governance.publicClient.readContract({ address: d.workerRegistry, abi: workerRegistryAbi, functionName: 'workerCount' })
    assert.equal(count, BigInt(EXITED + 2), 'the registry still lists every worker ever registered')
    const set = await governance.publicClient.readContract({ address: d.workerRegistry, abi: workerRegistryAbi, functionName: 'computeSetSize' })
    assert.equal(set, 2n, 'the compute set holds the live workers only')

    // Registering thousands takes longer than the heartbeat timeout on a loaded machine: the live workers check in first.
    for (const w of live) await heartbeat(w.clients, { registry: d.workerRegistry })
    const after = await submit()
    const afterTimeout = await timeoutGas(after.jobId)
    const afterKeepers = await keeperViewsGas()
    assert.ok(live.some((w) => w.account.address === after.worker))
    // Gas is deterministic: equal within the few thousand gas that warm/cold slots and the cursor move.
    const near = (a: bigint, b: bigint, what: string) => assert.ok(a <= b + 5_000n, `${what}: ${a} gas with ${EXITED} exited workers, ${b} without`)
    near(after.gas, warm.gas, 'submitJob')
    near(afterTimeout, warmTimeout, 'timeout')
    near(afterKeepers, before.keepers, 'keepers() + activeKeeperCount()')
    assert.ok(after.gas < 500_000n, `submitJob ${after.gas}`)
    assert.ok(beforeTimeout < 300_000n && afterTimeout < 300_000n, `timeout ${afterTimeout}`)
  })

  it(`staked but offline workers cost a bounded scan (MAX_ASSIGN_SCAN); anyone prunes them, a heartbeat brings one back`, async () => {
    const maxScan = await governance.publicClient.readContract({ address: d.jobs, abi: jobsAbi, functionName: 'MAX_ASSIGN_SCAN' })
    const offline = await registerMany(OFFLINE)
    assert.ok(BigInt(OFFLINE) > maxScan)
    const test = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) })
    await test.increaseTime({ seconds: 61 })
    await test.mine({ blocks: 1 })
    for (const w of live) await heartbeat(w.clients, { registry: d.workerRegistry })
    // Round-robin reaches the end of the live workers within two jobs; the cursor then points
    // into the offline run, longer than the scan bound: nobody is found there.
    let jammed = false
    for (let i = 0; i < 2 && !jammed; i++) {
      try {
        await submit()
      } catch (e) {
        assert.ok(isW3aError(e, 'TX_REVERTED') && e instanceof TxRevertedError && e.errorName === 'NoEligibleWorker', String(e))
        jammed = true
      }
    }
    assert.ok(jammed, 'an offline run longer than the scan bound blocks assignment until pruned')
    // Anyone prunes the run in one transaction: a live worker is found again.
    const addrs = offline.map((a) => a.address)
    const r = await pruneWorkers(analyst, { registry: d.workerRegistry, workers: [...addrs, ...live.map((w) => w.account.address)] })
    assert.equal(r.pruned, OFFLINE, 'the eligible live workers are skipped')
    const next = await submit()
    assert.ok(live.some((w) => w.account.address === next.worker))
    assert.ok(next.gas < 500_000n)
    // A pruned worker that heartbeats again (funded for gas) is back in the set.
    const back = offline[0]!
    await governance.publicClient.waitForTransactionReceipt({ hash: await governance.walletClient.sendTransaction({ to: back.address, value: TOKEN, chain: null }) })
    await heartbeat(clientsFor(back), { registry: d.workerRegistry })
    assert.equal(await governance.publicClient.readContract({ address: d.workerRegistry, abi: workerRegistryAbi, functionName: 'computeSetSize' }), 3n)
  })
})
