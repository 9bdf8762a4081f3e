/**
 * The Campaigns contract on a real Anvil (time moved with evm_increaseTime): escrow, assignment,
 * the result only after the deadline and only under the assigned aggregator's signature, pull
 * claims against the Merkle root, the refund below the minimum and on expiry.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { bytesToHex, concat, createTestClient, http, keccak256, numberToHex, sliceHex, toHex, type Address, type Hex, type PrivateKeyAccount } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { payoutProof, payoutRoot } from '../campaigns/payout-tree.js'
import {
  allowMeasurement,
  campaignParamsHash,
  campaignResultDigest,
  claimCampaignReward,
  createCampaign,
  createChainClients,
  deployContracts,
  devAccount,
  encodeSimQuote,
  getCampaign,
  getTokenBalance,
  heartbeat,
  campaignsAbi,
  withChainErrors,
  registerWorker,
  reportDataFor,
  simQuoteDigest,
  startAnvil,
  submitCampaignResult,
  TxRevertedError,
  w3aTokenAbi,
  workerPossessionDigest,
  type AnvilInstance,
  type DeployContractsReturnType,
  type WriteClients,
} from './index.js'

const TOKEN = 10n ** 18n
const REWARD = TOKEN / 10n
const M = keccak256(toHex('aggregator bundle'))
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const devKey = privateKeyToAccount(generatePrivateKey())
const ZERO: Hex = `0x${'00'.repeat(32)}`

let anvil: AnvilInstance
let test: ReturnType<typeof createTestClient>
let d: DeployContractsReturnType
let governance: WriteClients
let analyst: WriteClients
let relayer: WriteClients
let aggregator: PrivateKeyAccount

const clientsFor = (account: Parameters<typeof createChainClients>[0]['account']) => createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account })
const balance = (a: Address) => getTokenBalance(governance.publicClient, { token: d.token, account: a })
const now = async () => Number((await governance.publicClient.getBlock()).timestamp)
async function rejectsWith(p: Promise<unknown>, errorName: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => isW3aError(e, 'TX_REVERTED') && e instanceof TxRevertedError && e.errorName === errorName)
}

before(async () => {
  anvil = await startAnvil({ port: 0 })
  test = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) })
  governance = clientsFor(devAccount(0))
  analyst = clientsFor(devAccount(2))
  relayer = clientsFor(devAccount(3))
  const operator = clientsFor(devAccount(4))
  d = await deployContracts({ ...governance, devAttestationSigner: devKey.address })
  for (const c of [analyst, operator]) {
    const { request } = await governance.publicClient.simulateContract({ address: d.token, abi: w3aTokenAbi, functionName: 'mint', args: [c.walletClient.account.address, 1_000n * TOKEN], account: governance.walletClient.account })
    await governance.publicClient.waitForTransactionReceipt({ hash: await governance.walletClient.writeContract(request) })
  }
  await allowMeasurement(governance, { registry: d.workerRegistry, measurement: M })
  aggregator = privateKeyToAccount(generatePrivateKey())
  const hpkePublicKey = bytesToHex(randomBytes(32))
  const reportData = reportDataFor({ worker: aggregator.address, hpkePublicKey, chainId: anvil.chainId, registry: d.workerRegistry })
  await registerWorker(operator, {
    registry: d.workerRegistry,
    worker: aggregator.address,
    teeType: 'sim',
    measurement: M,
    hpkePublicKey,
    roles: ['compute'],
    endpoint: 'http://127.0.0.1:9000',
    quote: encodeSimQuote({ measurement: M, reportData, signature: await devKey.signMessage({ message: { raw: simQuoteDigest(M, reportData) } }) }),
    workerSignature: await aggregator.sign({ hash: workerPossessionDigest({ chainId: anvil.chainId, registry: d.workerRegistry, operator: operator.walletClient.account.address }) }),
    gasFunding: TOKEN / 10n,
  })
})
after(async () => {
  await anvil?.stop()
})

async function newCampaign(min: number, max: number, inSeconds = 600) {
  return createCampaign(analyst, {
    campaigns: d.campaigns,
    functionHash: keccak256(toHex(`(rows) => rows[0].sex ${randomBytes(4).toString('hex')}`)),
    functionCid: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
    output: 'category:male,female',
    purpose: 'demographics',
    rewardPerAnswer: REWARD,
    minRespondents: min,
    maxRespondents: max,
    k: 2,
    epsilonMicros: 1_000_000n,
    deadline: BigInt((await now()) + inSeconds),
  })
}

async function signed(id: bigint, signer: PrivateKeyAccount, outputHash: Hex, counted: number, root: Hex) {
  const c = await getCampaign(governance.publicClient, { campaigns: d.campaigns, campaignId: id })
  const digest = campaignResultDigest({ chainId: anvil.chainId, campaigns: d.campaigns, campaignId: id, paramsHash: c.paramsHash, outputHash, counted, payoutRoot: root })
  return signer.signMessage({ message: { raw: digest } })
}

describe('Campaigns (real anvil)', () => {
  it('escrows, takes the aggregator\'s result only after the deadline, pays exactly the counted addresses once', async () => {
    const before = await balance(devAccount(2).address)
    const c = await newCampaign(3, 10)
    assert.equal(c.aggregator, aggregator.address)
    assert.equal(c.escrow, 10n * REWARD)
    assert.equal(await balance(devAccount(2).address), before - 10n * REWARD)
    const onChain = await getCampaign(governance.publicClient, { campaigns: d.campaigns, campaignId: c.campaignId })
    const { id: _i, status: _s, createdAt: _c, counted: _n, paramsHash, outputHash: _o, payoutRoot: _r, claims: _k, ...terms } = onChain
    assert.equal(campaignParamsHash({ chainId: anvil.chainId, campaigns: d.campaigns, campaignId: c.campaignId }, terms), paramsHash)

    const payouts = Array.from({ length: 5 }, () => privateKeyToAccount(generatePrivateKey()).address)
    const root = payoutRoot(c.campaignId, payouts)
    const out = keccak256(toHex('histogram'))
    const sig = await signed(c.campaignId, aggregator, out, 5, root)
    const post = (signature: Hex, counted = 5, r = root) => submitCampaignResult(relayer, { campaigns: d.campaigns, campaignId: c.campaignId, outputHash: out, counted, payoutRoot: r, signature })
    await rejectsWith(post(sig), 'DeadlineNotReached')
    await test.increaseTime({ seconds: 601 })
    await test.mine({ blocks: 1 })
    await rejectsWith(post(await signed(c.campaignId, privateKeyToAccount(generatePrivateKey()), out, 5, root)), 'BadResultSignature')
    await rejectsWith(post(sig, 6), 'BadResultSignature') // a count the aggregator did not sign
    await rejectsWith(post(await signed(c.campaignId, aggregator, out, 11, root), 11), 'TooManyCounted')
    const s = BigInt(sliceHex(sig, 32, 64))
    const twin = concat([sliceHex(sig, 0, 32), numberToHex(SECP256K1_N - s, { size: 32 }), numberToHex(Number(BigInt(sliceHex(sig, 64, 65))) === 27 ? 28 : 27, { size: 1 })])
    await rejectsWith(post(twin), 'BadResultSignature')
    const r = await post(sig)
    assert.equal(r.released, true)
    assert.equal(r.refund, 5n * REWARD)
    await rejectsWith(post(sig), 'CampaignNotOpen')

    for (const p of payouts) await claimCampaignReward(relayer, { campaigns: d.campaigns, campaignId: c.campaignId, account: p, proof: payoutProof(c.campaignId, payouts, p) })
    for (const p of payouts) assert.equal(await balance(p), REWARD)
    await rejectsWith(claimCampaignReward(relayer, { campaigns: d.campaigns, campaignId: c.campaignId, account: payouts[0]!, proof: payoutProof(c.campaignId, payouts, payouts[0]!) }), 'AlreadyClaimed')
    const stranger = privateKeyToAccount(generatePrivateKey()).address
    await rejectsWith(claimCampaignReward(relayer, { campaigns: d.campaigns, campaignId: c.campaignId, account: stranger, proof: payoutProof(c.campaignId, payouts, payouts[1]!) }), 'NotCounted')
    assert.equal(await balance(devAccount(2).address), before - 5n * REWARD)
  })

  it('below the minimum: the whole escrow back, nothing to claim; no result at all: expiry refunds', async () => {
    await heartbeat(clientsFor(aggregator), { registry: d.workerRegistry }) // time moved past its heartbeat timeout
    const before = await balance(devAccount(2).address)
    const c = await newCampaign(4, 8, 100)
    const e = await newCampaign(4, 8, 100)
    await test.increaseTime({ seconds: 101 })
    await test.mine({ blocks: 1 })
    const r = await submitCampaignResult(relayer, { campaigns: d.campaigns, campaignId: c.campaignId, outputHash: ZERO, counted: 2, payoutRoot: ZERO, signature: await signed(c.campaignId, aggregator, ZERO, 2, ZERO) })
    assert.equal(r.released, false)
    assert.equal((await getCampaign(governance.publicClient, { campaigns: d.campaigns, campaignId: c.campaignId })).status, 'below-minimum')
    assert.equal(await balance(devAccount(2).address), before - 8n * REWARD, 'c refunded in full (e still escrowed)')
    await rejectsWith(claimCampaignReward(relayer, { campaigns: d.campaigns, campaignId: c.campaignId, account: devAccount(3).address, proof: [] }), 'NotReleased')

    const expire = () =>
      withChainErrors(async () => {
        const sim = await relayer.publicClient.simulateContract({ address: d.campaigns, abi: campaignsAbi, functionName: 'expire', args: [e.campaignId], account: relayer.walletClient.account })
        await relayer.publicClient.waitForTransactionReceipt({ hash: await relayer.walletClient.writeContract(sim.request) })
      })
    await rejectsWith(expire(), 'ResultWindowOpen')
    await test.increaseTime({ seconds: 3600 })
    await test.mine({ blocks: 1 })
    await expire()
    assert.equal((await getCampaign(governance.publicClient, { campaigns: d.campaigns, campaignId: e.campaignId })).status, 'expired')
    assert.equal(await balance(devAccount(2).address), before)
  })
})
