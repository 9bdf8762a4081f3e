/**
 * The market SDK on a real chain: Anvil and the contracts (ensureDeployment, as `w3a up` does),
 * and a gateway in this process (no keeper: the market needs none, so listing skips the owner-side
 * custody policy check). A registered dataset is unlisted: not on the market, no credit sells. An
 * owner lists it with a price and a policy summary; an analyst buys credits; a buyer without tokens is refused
 * before anything is sent; a job completed by a sim worker gives the owner earnings to claim.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { bytesToHex, erc20Abi, keccak256, parseUnits, toHex, type Hex, type LocalAccount } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import {
  allowMeasurement,
  createChainClients,
  devAccount,
  encodeSimQuote,
  ensureDeployment,
  getTokenBalance,
  registerDataset,
  registerWorker,
  reportDataFor,
  signResult,
  simQuoteDigest,
  startAnvil,
  submitJob,
  submitResult,
  workerPossessionDigest,
  type AnvilInstance,
  type ChainPublicClient,
  type Deployment,
} from '../src/chain/index.js'
import { createMemoryBlockstore } from '../src/storage/index.js'
import { createGateway } from '../src/node/gateway.js'
import { serveHttp, type HttpServer } from '../src/node/http-server.js'
import {
  buyCredits,
  setBuyerAccess,
  claimEarnings,
  createW3aClient,
  getCredits,
  getEarnings,
  getJob,
  listJobs,
  listMarket,
  listOnMarket,
  isW3aError,
  type W3aClient,
} from '../src/sdk/index.js'

const TOKEN = 10n ** 18n
const PRICE = 2n * TOKEN
const MEASUREMENT = keccak256(toHex('market-sdk worker'))
const SUMMARY = 'k=10; ε budget 5; dimensions: city; measures: amount'

const work = mkdtempSync(join(tmpdir(), 'w3a-market-sdk-'))
const devKey = privateKeyToAccount(generatePrivateKey()) // signs sim quotes on this chain
const ownerAccount = devAccount(1)
const analystAccount = devAccount(2)
let anvil: AnvilInstance
let gateway: HttpServer
let d: Deployment
let publicClient: ChainPublicClient
let owner: W3aClient
let analyst: W3aClient
let datasetId: Hex

const clientsFor = (account: LocalAccount) =>
  createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account })
const balance = (account: Hex) => getTokenBalance(publicClient, { token: d.token, account })

before(async () => {
  anvil = await startAnvil({ port: 0 })
  d = await ensureDeployment({
    rpcUrl: anvil.rpcUrl,
    deploymentFile: join(work, 'deployment.json'),
    fundAccounts: 4,
    fundAmount: 1_000n * TOKEN,
    devAttestationSigner: devKey.address,
  })
  publicClient = createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId }).publicClient
  const network = {
    name: 'market-sdk-test',
    chainId: d.chainId,
    rpcUrl: anvil.rpcUrl,
    contracts: { token: d.token, datasetRegistry: d.datasetRegistry, workerRegistry: d.workerRegistry, custodyInbox: d.custodyInbox, market: d.market, jobs: d.jobs, campaigns: d.campaigns, storageMarket: d.storageMarket },
    dev: true,
  }
  gateway = await serveHttp(createGateway({ blockstore: createMemoryBlockstore(), network, publicClient }), { port: 0 })
  owner = createW3aClient({ gatewayUrl: gateway.url, account: ownerAccount })
  analyst = createW3aClient({ gatewayUrl: gateway.url, account: analystAccount })
  const reg = await registerDataset(clientsFor(ownerAccount), {
    registry: d.datasetRegistry,
    salt: bytesToHex(randomBytes(32)),
    name: 'visits',
    manifestCid: 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi',
    schemaHash: keccak256(toHex('schema')),
    pricePerQuery: 0n,
  })
  datasetId = reg.id
})

after(async () => {
  await gateway?.close()
  await anvil?.stop()
  rmSync(work, { recursive: true, force: true })
})

test('a registered dataset is unlisted: not on the market, no credit sells, listing needs price and summary', async () => {
  assert.equal((await listMarket(analyst)).find((l) => l.id === datasetId), undefined, 'not on the market')
  const drafts = await listMarket(owner, { owner: ownerAccount.address, status: 'unlisted' })
  assert.deepEqual(drafts.map((l) => [l.id, l.status]), [[datasetId, 'unlisted']])
  const before = await balance(analystAccount.address)
  await assert.rejects(buyCredits(analyst, { id: datasetId, credits: 1n }), (e) => isW3aError(e, 'DATASET_NOT_LISTED') && /market list/.test(e.message))
  // Listing states the price and the summary: an unlisted dataset never goes on sale at a default price.
  await assert.rejects(listOnMarket(owner, { id: datasetId, summary: SUMMARY, requirePolicy: false }), (e) => isW3aError(e, 'INVALID_ARGUMENT') && /--price/.test(e.message))
  await assert.rejects(listOnMarket(owner, { id: datasetId, price: PRICE, requirePolicy: false }), (e) => isW3aError(e, 'INVALID_ARGUMENT') && /--summary/.test(e.message))
  assert.equal(await balance(analystAccount.address), before)
  assert.equal((await listMarket(analyst)).find((l) => l.id === datasetId), undefined, 'still not on the market')
})

test('an owner lists a dataset with a price and a policy summary; listMarket shows them', async () => {
  const r = await listOnMarket(owner, { id: datasetId, price: PRICE, summary: SUMMARY, requirePolicy: false })
  assert.match(r.listTx ?? '', /^0x[0-9a-f]{64}$/)
  assert.equal(r.status, 'active')
  assert.match(r.priceTx ?? '', /^0x[0-9a-f]{64}$/)
  assert.match(r.summaryTx ?? '', /^0x[0-9a-f]{64}$/)
  assert.deepEqual(r.price, { amount: PRICE, formatted: '2', symbol: 'PHA' })

  const listings = await listMarket(analyst)
  const mine = listings.find((l) => l.id === datasetId)
  assert.ok(mine, 'the dataset is on the market')
  assert.equal(mine.owner, ownerAccount.address)
  assert.equal(mine.status, 'active')
  assert.equal(mine.price.amount, PRICE)
  assert.equal(mine.policySummary, SUMMARY)
  assert.equal(mine.rows, undefined, 'this gateway holds no manifest block')

  // Only the owner lists; nothing is sent otherwise.
  await assert.rejects(listOnMarket(analyst, { id: datasetId, price: 1n }), (e) => isW3aError(e, 'NOT_OWNER'))
  await assert.rejects(listOnMarket(owner, { id: keccak256(toHex('nope')), price: 1n }), (e) => isW3aError(e, 'DATASET_NOT_FOUND'))
  await assert.rejects(listOnMarket(owner, { id: datasetId }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
  assert.equal((await listMarket(analyst)).find((l) => l.id === datasetId)?.price.amount, PRICE)
})

test('buying credits moves credits × price from the analyst into escrow', async () => {
  // A listing admits no buyer until its owner says so: refused before anything is sent.
  await assert.rejects(buyCredits(analyst, { id: datasetId, credits: 1n }), (e) => isW3aError(e, 'NOT_ADMITTED') && /market access/.test(e.details.join('\n')))
  await setBuyerAccess(owner, { id: datasetId, open: true })
  const [a0, m0] = await Promise.all([balance(analystAccount.address), balance(d.market)])
  const r = await buyCredits(analyst, { id: datasetId, credits: 3n })
  assert.equal(r.credits, 3n)
  assert.equal(r.cost.amount, 3n * PRICE)
  assert.equal(r.cost.formatted, '6')
  assert.match(r.approveHash ?? '', /^0x[0-9a-f]{64}$/, 'the market was approved first')
  assert.equal(r.balance.amount, a0 - 3n * PRICE)
  assert.equal(await balance(analystAccount.address), a0 - 3n * PRICE)
  assert.equal(await balance(d.market), m0 + 3n * PRICE)
  const c = await getCredits(analyst, { id: datasetId })
  assert.deepEqual({ credits: c.credits, reserved: c.reserved, escrow: c.escrow.amount, analyst: c.analyst }, { credits: 3n, reserved: 0n, escrow: 3n * PRICE, analyst: analystAccount.address })
  // Anyone may read anyone's credits.
  assert.equal((await getCredits(owner, { id: datasetId, analyst: analystAccount.address })).credits, 3n)
  await assert.rejects(buyCredits(analyst, { id: keccak256(toHex('nope')), credits: 1n }), (e) => isW3aError(e, 'DATASET_NOT_FOUND'))
  await assert.rejects(buyCredits(analyst, { id: datasetId, credits: 0n }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
})

test('a buyer without enough tokens gets INSUFFICIENT_BALANCE and nothing changes', async () => {
  const poor = privateKeyToAccount(generatePrivateKey())
  // Gas money only: no tokens.
  const funder = clientsFor(devAccount(3))
  await publicClient.waitForTransactionReceipt({ hash: await funder.walletClient.sendTransaction({ to: poor.address, value: parseUnits('1', 18) }) })
  const poorClient = createW3aClient({ gatewayUrl: gateway.url, account: poor })
  const before = await Promise.all([balance(poor.address), balance(d.market), publicClient.getTransactionCount({ address: poor.address })])
  await assert.rejects(buyCredits(poorClient, { id: datasetId, credits: 1n }), (e) => {
    assert.ok(isW3aError(e, 'INSUFFICIENT_BALANCE'), String(e))
    assert.match(e.message, /cost 2 PHA/)
    assert.match(e.message, /dev accounts/, 'says how to get tokens on a devnet')
    return true
  })
  const after = await Promise.all([balance(poor.address), balance(d.market), publicClient.getTransactionCount({ address: poor.address })])
  assert.deepEqual(after, before, 'no transaction, no token moved')
  assert.equal(await publicClient.readContract({ address: d.token, abi: erc20Abi, functionName: 'allowance', args: [poor.address, d.market] }), 0n, 'not even an approval')
  assert.equal((await getCredits(poorClient, { id: datasetId })).credits, 0n)
})

test('claiming with nothing to claim is a clear error; earnings read and claim after a completed job', async () => {
  assert.equal((await getEarnings(owner)).claimable.amount, 0n)
  await assert.rejects(claimEarnings(owner), (e) => {
    assert.ok(isW3aError(e, 'NOTHING_TO_CLAIM'), String(e))
    return true
  })

  // A sim compute worker completes one job on the dataset.
  const governance = clientsFor(devAccount(0))
  await allowMeasurement(governance, { registry: d.workerRegistry, measurement: MEASUREMENT })
  const worker = privateKeyToAccount(generatePrivateKey())
  const hpkePublicKey = bytesToHex(randomBytes(32))
  const reportData = reportDataFor({ worker: worker.address, hpkePublicKey, chainId: anvil.chainId, registry: d.workerRegistry })
  await registerWorker(governance, {
    registry: d.workerRegistry,
    worker: worker.address,
    teeType: 'sim',
    measurement: MEASUREMENT,
    hpkePublicKey,
    roles: ['compute'],
    endpoint: 'http://127.0.0.1:9',
    quote: encodeSimQuote({ measurement: MEASUREMENT, reportData, signature: await devKey.signMessage({ message: { raw: simQuoteDigest(MEASUREMENT, reportData) } }) }),
    workerSignature: await worker.sign({ hash: workerPossessionDigest({ chainId: anvil.chainId, registry: d.workerRegistry, operator: governance.walletClient.account.address }) }),
    gasFunding: TOKEN / 10n,
  })
  const submitted = await submitJob(clientsFor(analystAccount), {
    jobs: d.jobs,
    datasetId,
    analysisCid: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
    analysisHash: keccak256(toHex('SELECT count(*) FROM data')),
    privacyParamsHash: keccak256(toHex('{"k":10,"epsilon":0.5}')),
    epsilonMicros: 500_000n,
    fee: TOKEN,
  })
  const open = await getJob(analyst, { id: submitted.jobId })
  assert.equal(open.status, 'open')
  assert.equal(open.epsilonMicros, 500_000n)
  assert.equal(open.worker, worker.address)
  const outputHash = keccak256(toHex('the output'))
  const signature = await signResult(worker, {
    chainId: anvil.chainId,
    jobs: d.jobs,
    jobId: open.id,
    inputCidsHash: open.inputCidsHash,
    analysisHash: open.analysisHash,
    privacyParamsHash: open.privacyParamsHash,
    outputHash,
  })
  await submitResult(clientsFor(worker), { jobs: d.jobs, jobId: open.id, outputHash, signature })

  const done = await getJob(owner, { id: open.id })
  assert.equal(done.status, 'completed')
  assert.equal(done.outputHash, outputHash)
  assert.deepEqual((await listJobs(owner, { analyst: analystAccount.address, status: 'completed' })).map((j) => j.id), [open.id])
  assert.deepEqual(await listJobs(owner, { datasetId, status: 'open' }), [])
  await assert.rejects(getJob(owner, { id: 99n }), (e) => isW3aError(e, 'JOB_NOT_FOUND'))

  // 70 % of the credit's price goes to the owner.
  const ownerShare = (PRICE * 70n) / 100n
  const earned = await getEarnings(analyst, { account: ownerAccount.address })
  assert.deepEqual(earned.claimable, { amount: ownerShare, formatted: '1.4', symbol: 'PHA' })
  const b0 = await balance(ownerAccount.address)
  const claimed = await claimEarnings(owner)
  assert.equal(claimed.claimed.amount, ownerShare)
  assert.equal(await balance(ownerAccount.address), b0 + ownerShare)
  const after = await getEarnings(owner)
  assert.equal(after.claimable.amount, 0n)
  assert.equal(after.balance.amount, b0 + ownerShare)
  await assert.rejects(claimEarnings(owner), (e) => isW3aError(e, 'NOTHING_TO_CLAIM'))
})
