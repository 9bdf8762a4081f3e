import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { bytesToHex, concat, createTestClient, hexToBytes, http, keccak256, numberToHex, sliceHex, toHex, type Address, type Hex, type PrivateKeyAccount } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { JOB_FAILURE_CODES, isAnalystFault } from '../analysis/index.js'
import { decodeJobCharge } from '../custody/job-charge.js'
import {
  allowMeasurement,
  buyCredits,
  claimEarnings,
  createChainClients,
  deployContracts,
  devAccount,
  disallowMeasurement,
  encodeSimQuote,
  failureDigest,
  getBuyerAccess,
  getCredits,
  getEarnings,
  getJob,
  getJobsParams,
  getPolicySummary,
  getTokenBalance,
  getWorker,
  heartbeat,
  inputCidsHashFor,
  jobsAbi,
  listJobs,
  readInbox,
  refundCredits,
  marketAbi,
  registerDataset,
  registerWorker,
  reportDataFor,
  resultDigest,
  setBuyerAccess,
  setDatasetStatus,
  setPolicySummary,
  signFailure,
  signResult,
  simQuoteDigest,
  submitFailure,
  submitJob,
  submitResult,
  timeoutJob,
  TxRevertedError,
  w3aTokenAbi,
  withChainErrors,
  workerPossessionDigest,
  workerRegistryAbi,
  startAnvil,
  type AnvilInstance,
  type DeployContractsReturnType,
  type Job,
  type WorkerRole,
  type WriteClients,
} from './index.js'

const TOKEN = 10n ** 18n
const PRICE = 5n * TOKEN
const FEE = 2n * TOKEN
const SLASH = 10n * TOKEN
const STAKE = 100n * TOKEN
const M_GOOD = keccak256(toHex('worker bundle v1'))
const M_OTHER = keccak256(toHex('worker bundle v2'))
const MANIFEST_CID = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

const devKey = privateKeyToAccount(generatePrivateKey())

let anvil: AnvilInstance
let test: ReturnType<typeof createTestClient>
let d: DeployContractsReturnType
let governance: WriteClients // dev account 0: deployer, governance, treasury
let owner: WriteClients // dev account 1: dataset owner
let analyst: WriteClients // dev account 2
let operator: WriteClients // dev account 4: runs the workers
let datasetId: Hex

type TestWorker = { account: PrivateKeyAccount; address: Address; clients: WriteClients }
let w1: TestWorker
let w2: TestWorker

const addr = (c: WriteClients) => c.walletClient.account.address
const clientsFor = (account: PrivateKeyAccount | ReturnType<typeof devAccount>): WriteClients =>
  createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account })
const balance = (account: Address) => getTokenBalance(governance.publicClient, { token: d.token, account })

async function rejectsWith(p: Promise<unknown>, errorName: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isW3aError(e, 'TX_REVERTED'), `expected TX_REVERTED ${errorName}, got ${String(e)}`)
    assert.ok(e instanceof TxRevertedError)
    assert.equal(e.errorName, errorName, e.message)
    return true
  })
}

async function newSimWorker(opts: { measurement?: Hex; roles?: WorkerRole[] } = {}): Promise<TestWorker> {
  const account = privateKeyToAccount(generatePrivateKey())
  const hpkePublicKey = bytesToHex(randomBytes(32))
  const measurement = opts.measurement ?? M_GOOD
  const reportData = reportDataFor({ worker: account.address, hpkePublicKey, chainId: anvil.chainId, registry: d.workerRegistry })
  const quote = encodeSimQuote({ measurement, reportData, signature: await devKey.signMessage({ message: { raw: simQuoteDigest(measurement, reportData) } }) })
  await registerWorker(operator, {
    registry: d.workerRegistry,
    worker: account.address,
    teeType: 'sim',
    measurement,
    hpkePublicKey,
    roles: opts.roles ?? ['compute'],
    endpoint: 'http://127.0.0.1:9000',
    quote,
    workerSignature: await account.sign({ hash: workerPossessionDigest({ chainId: anvil.chainId, registry: d.workerRegistry, operator: addr(operator) }) }),
    gasFunding: TOKEN / 10n,
  })
  return { account, address: account.address, clients: clientsFor(account) }
}

async function timeTravel(seconds: number): Promise<void> {
  await test.increaseTime({ seconds })
  await test.mine({ blocks: 1 })
}

const domain = () => ({ chainId: anvil.chainId, jobs: d.jobs })
const fields = (job: Job) => ({ jobId: job.id, inputCidsHash: job.inputCidsHash, analysisHash: job.analysisHash, privacyParamsHash: job.privacyParamsHash })

async function newJob(fee = FEE) {
  return submitJob(analyst, {
    jobs: d.jobs,
    datasetId,
    analysisCid: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
    analysisHash: keccak256(toHex(`SELECT count(*) FROM data -- ${randomBytes(4).toString('hex')}`)),
    privacyParamsHash: keccak256(toHex('{"k":10,"epsilon":0.5}')),
    fee,
  })
}

/** The same signature with s' = n - s and the other v: valid for plain ecrecover, refused as malleable. */
function highSTwin(sig: Hex): Hex {
  const s = BigInt(sliceHex(sig, 32, 64))
  const v = Number(BigInt(sliceHex(sig, 64, 65)))
  return concat([sliceHex(sig, 0, 32), numberToHex(SECP256K1_N - s, { size: 32 }), numberToHex(v === 27 ? 28 : 27, { size: 1 })])
}

before(async () => {
  anvil = await startAnvil({ port: 0 })
  test = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) })
  governance = clientsFor(devAccount(0))
  owner = clientsFor(devAccount(1))
  analyst = clientsFor(devAccount(2))
  operator = clientsFor(devAccount(4))
  d = await deployContracts({ ...governance, devAttestationSigner: devKey.address })
  for (const c of [owner, analyst, operator]) {
    const { request } = await governance.publicClient.simulateContract({
      address: d.token,
      abi: w3aTokenAbi,
      functionName: 'mint',
      args: [addr(c), 1_000n * TOKEN],
      account: governance.walletClient.account,
    })
    await governance.publicClient.waitForTransactionReceipt({ hash: await governance.walletClient.writeContract(request) })
  }
  await allowMeasurement(governance, { registry: d.workerRegistry, measurement: M_GOOD })
  await allowMeasurement(governance, { registry: d.workerRegistry, measurement: M_OTHER })
  const reg = await registerDataset(owner, {
    registry: d.datasetRegistry,
    salt: bytesToHex(randomBytes(32)),
    name: 'visits',
    manifestCid: MANIFEST_CID,
    schemaHash: keccak256(toHex('schema')),
    pricePerQuery: PRICE,
  })
  datasetId = reg.id
  w1 = await newSimWorker()
  w2 = await newSimWorker()
})
after(async () => {
  await anvil?.stop()
})

describe('market and jobs (real anvil)', () => {
  it('deploys Market + Jobs wired together with the devnet parameters', async () => {
    const { publicClient } = governance
    assert.equal(d.wired, true)
    const p = await getJobsParams(publicClient, { jobs: d.jobs })
    assert.deepEqual(p, {
      ownerShareBps: 7000,
      workerShareBps: 2000,
      treasuryShareBps: 1000,
      storageBps: 0,
      jobTimeout: 120n,
      slashAmount: SLASH,
      treasury: addr(governance),
      market: d.market,
      workerRegistry: d.workerRegistry,
      token: d.token,
      governance: addr(governance),
      storageMarket: d.storageMarket,
    })
    assert.equal(await publicClient.readContract({ address: d.market, abi: marketAbi, functionName: 'jobs' }), d.jobs)
    assert.equal(await publicClient.readContract({ address: d.workerRegistry, abi: workerRegistryAbi, functionName: 'isSlasher', args: [d.jobs] }), true)
    // Only the jobs contract moves credits.
    await rejectsWith(
      withChainErrors(() =>
        analyst.publicClient.simulateContract({ address: d.market, abi: marketAbi, functionName: 'reserve', args: [addr(analyst), datasetId], account: analyst.walletClient.account }),
      ),
      'NotJobs',
    )
  })

  it('owners publish a policy summary; nobody else can', async () => {
    const summary = 'k=10; identifiers: user_id; dimensions: country, day; measures: amount; ε budget 5'
    const res = await setPolicySummary(owner, { market: d.market, datasetId, summary })
    assert.equal(res.summaryHash, keccak256(toHex(summary)))
    assert.deepEqual(await getPolicySummary(owner.publicClient, { market: d.market, datasetId }), { summary, summaryHash: res.summaryHash })
    await rejectsWith(setPolicySummary(analyst, { market: d.market, datasetId, summary: 'mine' }), 'NotDatasetOwner')
    await rejectsWith(setPolicySummary(owner, { market: d.market, datasetId, summary: 'x'.repeat(1025) }), 'PolicySummaryTooLong')
  })

  it('an unlisted dataset sells no credit; listing it does; pausing stops sales again', async () => {
    const before = await balance(addr(analyst))
    // Registered unlisted: nothing moves, not even with an allowance.
    await rejectsWith(buyCredits(analyst, { market: d.market, datasetId, credits: 1n }), 'DatasetNotListed')
    await setDatasetStatus(owner, { registry: d.datasetRegistry, id: datasetId, status: 'active' })
    await setDatasetStatus(owner, { registry: d.datasetRegistry, id: datasetId, status: 'paused' })
    await rejectsWith(buyCredits(analyst, { market: d.market, datasetId, credits: 1n }), 'DatasetNotActive')
    await setDatasetStatus(owner, { registry: d.datasetRegistry, id: datasetId, status: 'active' })
    assert.equal(await balance(addr(analyst)), before)
    assert.deepEqual(await getCredits(analyst.publicClient, { market: d.market, analyst: addr(analyst), datasetId }), { credits: 0n, reserved: 0n, escrow: 0n })
  })

  it('a buyer the listing does not admit is refused before any token moves', async () => {
    const a0 = await balance(addr(analyst))
    assert.deepEqual(await getBuyerAccess(analyst.publicClient, { market: d.market, datasetId, buyer: addr(analyst) }), { open: false, admitted: false })
    await rejectsWith(buyCredits(analyst, { market: d.market, datasetId, credits: 1n }), 'NotAdmitted')
    await rejectsWith(setBuyerAccess(analyst, { market: d.market, datasetId, buyer: addr(analyst), admitted: true }), 'NotDatasetOwner')
    await rejectsWith(setBuyerAccess(analyst, { market: d.market, datasetId, open: true }), 'NotDatasetOwner')
    assert.equal(await balance(addr(analyst)), a0)
    // The owner opens the listing: anyone may buy; closing it again leaves only admitted buyers.
    await setBuyerAccess(owner, { market: d.market, datasetId, open: true })
    assert.deepEqual(await getBuyerAccess(analyst.publicClient, { market: d.market, datasetId, buyer: addr(analyst) }), { open: true, admitted: true })
    await setBuyerAccess(owner, { market: d.market, datasetId, open: false })
    await setBuyerAccess(owner, { market: d.market, datasetId, buyer: addr(analyst), admitted: true })
    assert.deepEqual(await getBuyerAccess(analyst.publicClient, { market: d.market, datasetId, buyer: addr(analyst) }), { open: false, admitted: true })
  })

  it('buying credits moves credits × price into escrow', async () => {
    const [a0, m0] = await Promise.all([balance(addr(analyst)), balance(d.market)])
    const res = await buyCredits(analyst, { market: d.market, datasetId, credits: 3n })
    assert.equal(res.cost, 3n * PRICE)
    assert.equal(res.credits, 3n)
    assert.match(res.approveHash ?? '', /^0x[0-9a-f]{64}$/, 'approved the market first')
    assert.equal(await balance(addr(analyst)), a0 - 3n * PRICE)
    assert.equal(await balance(d.market), m0 + 3n * PRICE)
    assert.deepEqual(await getCredits(analyst.publicClient, { market: d.market, analyst: addr(analyst), datasetId }), { credits: 3n, reserved: 0n, escrow: 3n * PRICE })
    await rejectsWith(buyCredits(analyst, { market: d.market, datasetId: keccak256(toHex('nope')), credits: 1n }), 'UnknownDataset')
  })

  let job0: Job
  it('submitting a job reserves one credit, escrows the fee and assigns a compute worker', async () => {
    const j0 = await balance(d.jobs)
    const res = await newJob()
    assert.equal(res.jobId, 0n)
    assert.equal(res.worker, w1.address, 'round-robin starts at the first registered worker')
    assert.equal(res.creditValue, PRICE)
    assert.equal(res.inputCidsHash, inputCidsHashFor(MANIFEST_CID))
    assert.equal(await balance(d.jobs), j0 + FEE)
    assert.deepEqual(await getCredits(analyst.publicClient, { market: d.market, analyst: addr(analyst), datasetId }), { credits: 2n, reserved: 1n, escrow: 2n * PRICE })
    job0 = await getJob(analyst.publicClient, { jobs: d.jobs, jobId: 0n })
    assert.equal(job0.status, 'open')
    assert.equal(job0.attempt, 1)
    assert.equal(job0.worker, w1.address)
    assert.equal(job0.analyst, addr(analyst))
    assert.equal(job0.fee, FEE)
    assert.equal(job0.deadline, job0.createdAt + 120)
    await rejectsWith(getJob(analyst.publicClient, { jobs: d.jobs, jobId: 99n }), 'UnknownJob')
  })

  it('result and failure digests match the contract byte for byte', async () => {
    const outputHash = keccak256(toHex('output'))
    const read = { address: d.jobs, abi: jobsAbi } as const
    assert.equal(await governance.publicClient.readContract({ ...read, functionName: 'resultDigest', args: [0n, outputHash] }), resultDigest({ ...domain(), ...fields(job0), outputHash }))
    const reasonHash = keccak256(toHex('budget exhausted'))
    assert.equal(
      await governance.publicClient.readContract({ ...read, functionName: 'failureDigest', args: [0n, 7, reasonHash] }),
      failureDigest({ ...domain(), ...fields(job0), reasonCode: 7, reasonHash }),
    )
    assert.notEqual(resultDigest({ ...domain(), ...fields(job0), outputHash }), resultDigest({ ...domain(), chainId: 1, ...fields(job0), outputHash }))
  })

  it('forged result signatures are rejected with the named error and pay nothing', async () => {
    const outputHash = keccak256(toHex('the real output'))
    const good = await signResult(w1.account, { ...domain(), ...fields(job0), outputHash })
    const wrongKey = await signResult(w2.account, { ...domain(), ...fields(job0), outputHash })
    const otherJob = await signResult(w1.account, { ...domain(), ...fields(job0), jobId: 1n, outputHash })
    const otherContract = await signResult(w1.account, { ...domain(), jobs: d.market, ...fields(job0), outputHash })
    const submit = (c: WriteClients, sig: Hex, hash = outputHash) => submitResult(c, { jobs: d.jobs, jobId: 0n, outputHash: hash, signature: sig })
    await rejectsWith(submit(w1.clients, wrongKey), 'BadResultSignature')
    await rejectsWith(submit(w1.clients, good, keccak256(toHex('an altered output'))), 'BadResultSignature')
    await rejectsWith(submit(w1.clients, otherJob), 'BadResultSignature')
    await rejectsWith(submit(w1.clients, otherContract), 'BadResultSignature')
    await rejectsWith(submit(w1.clients, highSTwin(good)), 'BadResultSignature')
    await rejectsWith(submit(w1.clients, '0x1234'), 'BadResultSignature')
    // A registered worker that is not the assigned one cannot post, even with a valid signature.
    await rejectsWith(submit(w2.clients, good), 'NotAssignedWorker')
    await rejectsWith(submit(analyst, good), 'NotAssignedWorker')
    for (const who of [addr(owner), addr(operator), addr(governance), w1.address]) assert.equal(await getEarnings(governance.publicClient, { jobs: d.jobs, account: who }), 0n)
    assert.equal((await getJob(governance.publicClient, { jobs: d.jobs, jobId: 0n })).status, 'open')
  })

  it('a valid signed result pays owner / worker / treasury by shares; claims transfer the tokens', async () => {
    const outputHash = keccak256(toHex('the real output'))
    const signature = await signResult(w1.account, { ...domain(), ...fields(job0), outputHash })
    const [m0, gov0] = await Promise.all([balance(d.market), balance(addr(governance))])
    const res = await submitResult(w1.clients, { jobs: d.jobs, jobId: 0n, outputHash, signature })
    assert.deepEqual(
      { o: res.ownerAmount, w: res.workerAmount, t: res.treasuryAmount, f: res.fee },
      { o: (PRICE * 70n) / 100n, w: (PRICE * 20n) / 100n, t: (PRICE * 10n) / 100n, f: FEE },
    )
    const job = await getJob(governance.publicClient, { jobs: d.jobs, jobId: 0n })
    assert.equal(job.status, 'completed')
    assert.equal(job.outputHash, outputHash)
    assert.equal(await balance(d.market), m0 - PRICE, 'the credit left escrow')
    assert.deepEqual(await getCredits(analyst.publicClient, { market: d.market, analyst: addr(analyst), datasetId }), { credits: 2n, reserved: 0n, escrow: 2n * PRICE })
    const earn = (a: Address) => getEarnings(governance.publicClient, { jobs: d.jobs, account: a })
    assert.equal(await earn(addr(owner)), 3_500_000_000_000_000_000n)
    assert.equal(await earn(addr(operator)), 1n * TOKEN + FEE, "the worker's share and the fee go to its operator")
    assert.equal(await earn(addr(governance)), 500_000_000_000_000_000n)
    assert.equal(await earn(w1.address), 0n)

    const o0 = await balance(addr(owner))
    assert.equal((await claimEarnings(owner, { jobs: d.jobs })).amount, 3_500_000_000_000_000_000n)
    assert.equal(await balance(addr(owner)), o0 + 3_500_000_000_000_000_000n)
    const op0 = await balance(addr(operator))
    assert.equal((await claimEarnings(operator, { jobs: d.jobs })).amount, 3n * TOKEN)
    assert.equal(await balance(addr(operator)), op0 + 3n * TOKEN)
    await claimEarnings(governance, { jobs: d.jobs })
    assert.equal(await balance(addr(governance)), gov0 + 500_000_000_000_000_000n)
    assert.equal(await earn(addr(owner)), 0n)
    assert.equal(await balance(d.jobs), 0n, 'everything escrowed was paid out')
    await rejectsWith(claimEarnings(owner, { jobs: d.jobs }), 'NothingToClaim')
    await rejectsWith(submitResult(w1.clients, { jobs: d.jobs, jobId: 0n, outputHash, signature }), 'JobNotOpen')
  })

  it('the job charge tells keepers whether the listing admitted the analyst', async () => {
    const entries = await readInbox(governance.publicClient, { inbox: d.custodyInbox })
    const charge = decodeJobCharge(hexToBytes(entries.at(-1)!.ciphertext))
    assert.deepEqual([charge?.jobId, charge?.analyst, charge?.admitted], [0n, addr(analyst).toLowerCase(), true])
  })

  it('the contract and src/analysis/failure-fault.ts classify every reason code alike', async () => {
    const read = (code: number) => governance.publicClient.readContract({ address: d.jobs, abi: jobsAbi, functionName: 'isAnalystFault', args: [code] })
    const analystCodes: number[] = []
    for (const code of [0, ...Object.values(JOB_FAILURE_CODES), 10, 255]) {
      assert.equal(await read(code), isAnalystFault(code), `reason code ${code}`)
      if (isAnalystFault(code)) analystCodes.push(code)
    }
    assert.deepEqual(analystCodes, [1, 2, 4, 5, 9], 'query-refused, budget-exhausted, access-denied, bad-analysis, query-failed')
  })

  it("a failure of the analyst's doing consumes the credit and the fee, paid out as for a result", async () => {
    const res = await newJob()
    const job = await getJob(governance.publicClient, { jobs: d.jobs, jobId: res.jobId })
    const worker = res.worker === w1.address ? w1 : w2
    const [a0, m0] = await Promise.all([balance(addr(analyst)), balance(d.market)])
    const reasonHash = keccak256(toHex('{"reason":"query-refused"}'))
    const signature = await signFailure(worker.account, { ...domain(), ...fields(job), reasonCode: JOB_FAILURE_CODES['query-refused'], reasonHash })
    await submitFailure(worker.clients, { jobs: d.jobs, jobId: res.jobId, reasonCode: JOB_FAILURE_CODES['query-refused'], reasonHash, signature })
    assert.equal((await getJob(governance.publicClient, { jobs: d.jobs, jobId: res.jobId })).status, 'failed')
    assert.deepEqual(await getCredits(analyst.publicClient, { market: d.market, analyst: addr(analyst), datasetId }), { credits: 1n, reserved: 0n, escrow: PRICE }, 'the credit is spent')
    assert.equal(await balance(d.market), m0 - PRICE, "the credit's tokens left escrow")
    const earn = (a: Address) => getEarnings(governance.publicClient, { jobs: d.jobs, account: a })
    assert.equal(await earn(addr(analyst)), 0n, 'no fee back')
    assert.equal(await earn(addr(owner)), (PRICE * 70n) / 100n)
    assert.equal(await earn(addr(operator)), (PRICE * 20n) / 100n + FEE)
    assert.equal(await balance(addr(analyst)), a0)
    for (const c of [owner, operator, governance]) await claimEarnings(c, { jobs: d.jobs })
    // Buy back the credit the bogus query burnt, so the tests below keep their numbers.
    await buyCredits(analyst, { market: d.market, datasetId, credits: 1n })
  })

  it('re-running on credits already bought needs no purchase; a failure of the worker or the network refunds credit and fee', async () => {
    const a0 = await balance(addr(analyst))
    const res = await newJob()
    assert.equal(res.jobId, 2n)
    assert.equal(res.worker, w1.address, 'round-robin moves on')
    assert.equal(await balance(addr(analyst)), a0 - FEE, 'only the fee was paid')
    const job = await getJob(governance.publicClient, { jobs: d.jobs, jobId: 2n })
    const reasonHash = keccak256(toHex('{"code":"BLOCK_NOT_FOUND"}'))
    const forged = await signFailure(w2.account, { ...domain(), ...fields(job), reasonCode: 6, reasonHash })
    await rejectsWith(submitFailure(w1.clients, { jobs: d.jobs, jobId: 2n, reasonCode: 6, reasonHash, signature: forged }), 'BadFailureSignature')
    const good = await signFailure(w1.account, { ...domain(), ...fields(job), reasonCode: 6, reasonHash })
    // The reason code is signed: a worker cannot turn a refund into a payout for itself.
    await rejectsWith(submitFailure(w1.clients, { jobs: d.jobs, jobId: 2n, reasonCode: 1, reasonHash, signature: good }), 'BadFailureSignature')
    await rejectsWith(submitFailure(w2.clients, { jobs: d.jobs, jobId: 2n, reasonCode: 6, reasonHash, signature: good }), 'NotAssignedWorker')
    await submitFailure(w1.clients, { jobs: d.jobs, jobId: 2n, reasonCode: 6, reasonHash, signature: good })
    const after = await getJob(governance.publicClient, { jobs: d.jobs, jobId: 2n })
    assert.deepEqual([after.status, after.reasonCode, after.outputHash], ['failed', 6, reasonHash])
    assert.deepEqual(await getCredits(analyst.publicClient, { market: d.market, analyst: addr(analyst), datasetId }), { credits: 2n, reserved: 0n, escrow: 2n * PRICE })
    assert.equal(await getEarnings(governance.publicClient, { jobs: d.jobs, account: addr(operator) }), 0n, 'the worker earns nothing')
    assert.equal((await claimEarnings(analyst, { jobs: d.jobs })).amount, FEE)
    assert.equal(await balance(addr(analyst)), a0, 'fully refunded')
  })

  it('timeout: reassigned once with the late worker losing stake, then refunded with the second one losing stake', async () => {
    const res = await newJob()
    assert.equal(res.worker, w2.address)
    await rejectsWith(timeoutJob(analyst, { jobs: d.jobs, jobId: res.jobId }), 'DeadlineNotReached')
    const gov0 = await balance(addr(governance))
    await timeTravel(121)
    await heartbeat(w1.clients, { registry: d.workerRegistry }) // w1 stays online; w2 went silent
    const first = await timeoutJob(owner, { jobs: d.jobs, jobId: res.jobId }) // anyone may call
    assert.equal(first.outcome, 'reassigned')
    assert.equal(first.lateWorker, w2.address)
    assert.equal(first.slashed, SLASH)
    assert.ok(first.outcome === 'reassigned' && first.worker === w1.address)
    const w2Info = await getWorker(governance.publicClient, { registry: d.workerRegistry, worker: w2.address })
    // A late job costs stake; it is not misbehaviour, so w2 is not marked slashed (it is offline: silent).
    assert.deepEqual([w2Info.stake, w2Info.slashed, w2Info.online], [STAKE - SLASH, false, false])
    assert.equal(await balance(addr(governance)), gov0 + SLASH, 'slashed stake went to governance')
    await heartbeat(w2.clients, { registry: d.workerRegistry })
    assert.equal((await getWorker(governance.publicClient, { registry: d.workerRegistry, worker: w2.address })).eligible, true, 'penalized, not banned')
    let job = await getJob(governance.publicClient, { jobs: d.jobs, jobId: res.jobId })
    assert.deepEqual([job.status, job.attempt, job.worker], ['open', 2, w1.address])
    await rejectsWith(timeoutJob(owner, { jobs: d.jobs, jobId: res.jobId }), 'DeadlineNotReached')
    // The late worker can no longer post.
    const late = await signResult(w2.account, { ...domain(), ...fields(job), outputHash: keccak256(toHex('late')) })
    await rejectsWith(submitResult(w2.clients, { jobs: d.jobs, jobId: res.jobId, outputHash: keccak256(toHex('late')), signature: late }), 'NotAssignedWorker')

    await timeTravel(121)
    const second = await timeoutJob(owner, { jobs: d.jobs, jobId: res.jobId })
    assert.equal(second.outcome, 'refunded')
    assert.equal(second.lateWorker, w1.address)
    assert.equal(second.slashed, SLASH)
    job = await getJob(governance.publicClient, { jobs: d.jobs, jobId: res.jobId })
    assert.equal(job.status, 'refunded')
    assert.equal((await getWorker(governance.publicClient, { registry: d.workerRegistry, worker: w1.address })).stake, STAKE - SLASH)
    assert.deepEqual(await getCredits(analyst.publicClient, { market: d.market, analyst: addr(analyst), datasetId }), { credits: 2n, reserved: 0n, escrow: 2n * PRICE })
    assert.equal(await getEarnings(governance.publicClient, { jobs: d.jobs, account: addr(analyst) }), FEE)
    await rejectsWith(timeoutJob(owner, { jobs: d.jobs, jobId: res.jobId }), 'JobNotOpen')
  })

  it('ineligible workers are never assigned (NoEligibleWorker); nothing is taken', async () => {
    // w1 and w2 are offline now (silent since the time travel).
    await rejectsWith(newJob(), 'NoEligibleWorker')
    const disallowed = await newSimWorker({ measurement: M_OTHER })
    await disallowMeasurement(governance, { registry: d.workerRegistry, measurement: M_OTHER })
    const keeperOnly = await newSimWorker({ roles: ['storage'] })
    await rejectsWith(newJob(), 'NoEligibleWorker')
    const offline = await newSimWorker()
    await timeTravel(61)
    await rejectsWith(newJob(), 'NoEligibleWorker')
    assert.deepEqual(await getCredits(analyst.publicClient, { market: d.market, analyst: addr(analyst), datasetId }), { credits: 2n, reserved: 0n, escrow: 2n * PRICE })
    await heartbeat(offline.clients, { registry: d.workerRegistry })
    await heartbeat(keeperOnly.clients, { registry: d.workerRegistry })
    const res = await newJob(0n)
    assert.equal(res.worker, offline.address, 'back online: assigned; the disallowed and non-compute workers never are')
    assert.notEqual(res.worker, disallowed.address)
  })

  it('no credit, no job (NoCredits); listJobs filters', async () => {
    const stranger = clientsFor(devAccount(5))
    await rejectsWith(
      submitJob(stranger, { jobs: d.jobs, datasetId, analysisCid: 'bafk', analysisHash: keccak256('0x01'), privacyParamsHash: keccak256('0x02'), fee: 0n }),
      'NoCredits',
    )
    const all = await listJobs(governance.publicClient, { jobs: d.jobs })
    assert.deepEqual(all.map((j) => j.id), [0n, 1n, 2n, 3n, 4n])
    assert.deepEqual((await listJobs(governance.publicClient, { jobs: d.jobs, status: 'open' })).map((j) => j.id), [4n])
    assert.deepEqual((await listJobs(governance.publicClient, { jobs: d.jobs, status: ['failed', 'refunded'], pageSize: 1 })).map((j) => j.id), [1n, 2n, 3n])
    assert.deepEqual((await listJobs(governance.publicClient, { jobs: d.jobs, worker: w1.address })).map((j) => j.id), [0n, 2n, 3n])
    assert.deepEqual((await listJobs(governance.publicClient, { jobs: d.jobs, analyst: addr(owner) })).length, 0)
    assert.equal((await listJobs(governance.publicClient, { jobs: d.jobs, datasetId, analyst: addr(analyst) })).length, 5)
  })

  it('refund: unused credits come back once the dataset no longer sells to the analyst; reserved ones stay', async () => {
    const credits = () => getCredits(analyst.publicClient, { market: d.market, analyst: addr(analyst), datasetId })
    const held = await credits()
    assert.ok(held.credits > 0n && held.reserved === 1n, 'one job is still open')
    await rejectsWith(refundCredits(analyst, { market: d.market, datasetId }), 'StillOnSale')
    // The owner no longer admits the analyst: their jobs may now be refused, so they may leave.
    await setBuyerAccess(owner, { market: d.market, datasetId, buyer: addr(analyst), admitted: false })
    const [a0, m0] = await Promise.all([balance(addr(analyst)), balance(d.market)])
    const r = await refundCredits(analyst, { market: d.market, datasetId })
    assert.deepEqual([r.credits, r.amount], [held.credits, held.escrow])
    assert.equal(await balance(addr(analyst)), a0 + held.escrow)
    assert.equal(await balance(d.market), m0 - held.escrow)
    assert.deepEqual(await credits(), { credits: 0n, reserved: 1n, escrow: 0n })
    await rejectsWith(refundCredits(analyst, { market: d.market, datasetId }), 'NoCredits')

    // Admitted again, buys, then the owner pauses (or deletes) the dataset: the escrow comes back.
    await setBuyerAccess(owner, { market: d.market, datasetId, buyer: addr(analyst), admitted: true })
    await buyCredits(analyst, { market: d.market, datasetId, credits: 2n })
    await rejectsWith(refundCredits(analyst, { market: d.market, datasetId }), 'StillOnSale')
    await setDatasetStatus(owner, { registry: d.datasetRegistry, id: datasetId, status: 'paused' })
    assert.equal((await refundCredits(analyst, { market: d.market, datasetId })).amount, 2n * PRICE)
    await setDatasetStatus(owner, { registry: d.datasetRegistry, id: datasetId, status: 'active' })
    await buyCredits(analyst, { market: d.market, datasetId, credits: 1n })
    await setDatasetStatus(owner, { registry: d.datasetRegistry, id: datasetId, status: 'deleted' })
    assert.equal((await refundCredits(analyst, { market: d.market, datasetId })).amount, PRICE)
    assert.deepEqual(await credits(), { credits: 0n, reserved: 1n, escrow: 0n })
    // Everyone else's escrow is untouched: the market holds exactly the open job's credit.
    assert.equal(await balance(d.market), PRICE)
  })

  it('a refused (1) or failed-on-the-data (9) query is paid like an answer: credit consumed, fee to the operator', async () => {
    // The dataset above was deleted by the refund test: a fresh one, open to buyers.
    datasetId = (await registerDataset(owner, { registry: d.datasetRegistry, salt: bytesToHex(randomBytes(32)), name: 'visits 2', manifestCid: MANIFEST_CID, schemaHash: keccak256(toHex('schema')), pricePerQuery: PRICE })).id
    await setDatasetStatus(owner, { registry: d.datasetRegistry, id: datasetId, status: 'active' })
    await setBuyerAccess(owner, { market: d.market, datasetId, open: true })
    await buyCredits(analyst, { market: d.market, datasetId, credits: 6n })
    const fresh = [await newSimWorker(), await newSimWorker()]
    const assigned = async () => {
      for (let i = 0; i < 4; i++) {
        const r = await newJob()
        const w = fresh.find((f) => f.address === r.worker)
        if (w) return { jobId: r.jobId, w }
      }
      throw new Error('never assigned to a fresh worker')
    }
    const earn = (a: Address) => getEarnings(governance.publicClient, { jobs: d.jobs, account: a })
    for (const reasonCode of [1, 9]) {
      const { jobId, w } = await assigned()
      const job = await getJob(governance.publicClient, { jobs: d.jobs, jobId })
      const reasonHash = keccak256(toHex(`failure ${reasonCode}`))
      const [op0, an0, m0, c0] = [await earn(addr(operator)), await earn(addr(analyst)), await balance(d.market), await getCredits(analyst.publicClient, { market: d.market, analyst: addr(analyst), datasetId })]
      const signature = await signFailure(w.account, { ...domain(), ...fields(job), reasonCode, reasonHash })
      await submitFailure(w.clients, { jobs: d.jobs, jobId, reasonCode, reasonHash, signature })
      assert.equal((await getJob(governance.publicClient, { jobs: d.jobs, jobId })).status, 'failed')
      assert.equal(await earn(addr(operator)), op0 + (PRICE * 20n) / 100n + FEE, `code ${reasonCode}: the worker share and the fee are paid`)
      assert.equal(await earn(addr(analyst)), an0, `code ${reasonCode}: no fee back`)
      const c1 = await getCredits(analyst.publicClient, { market: d.market, analyst: addr(analyst), datasetId })
      // Used, not given back: it leaves the reserved ones and the market's escrow, and does not return to credits.
      assert.deepEqual([c1.credits, c1.reserved, await balance(d.market)], [c0.credits, c0.reserved - 1n, m0 - PRICE], `code ${reasonCode}: the credit is used`)
    }
  })
})
