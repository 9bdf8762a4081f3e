/**
 * Federated campaigns on a real devnet (Anvil, the contracts, storage, the gateway, a worker with
 * the simulated TEE in its own process as the aggregator). The seed's example: an analyst asks
 * thousands of devices "male, or female?" from each one's own fingerprint readings; only the
 * aggregator's enclave opens the answers, only a noised histogram leaves it, and exactly the
 * respondents whose answers counted can claim their reward. A second campaign misses its
 * minimum: nothing is released and the analyst gets the whole escrow back.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseUnits, type Address } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { startDevnet, type RunningDevnet } from '../src/node/up.js'
import { campaignParamsHash, claimCampaignReward as claimOnChain, createChainClients, devAccount, getCampaign, getTokenBalance, submitCampaignResult, TxRevertedError, type Campaign } from '../src/chain/index.js'
import { answerCampaign, claimCampaignReward, createCampaign, createW3aClient, getCampaignResult, type W3aClient } from '../src/sdk/index.js'
import { parseConsentRules } from '../src/campaigns/consent.js'
import { payoutProof } from '../src/campaigns/payout-tree.js'
import type { CampaignResult } from '../src/campaigns/result-format.js'
import { isW3aError } from '../src/core/errors.js'
import { W3A_BIN } from './w3a-up-process.js'

const work = mkdtempSync(join(tmpdir(), 'w3a-campaign-'))
const dataDir = join(work, 'devnet')
let devnet: RunningDevnet
let analyst: W3aClient
let relayer: W3aClient

const DEVICES = 200
const FEMALE = 130
const REWARD = parseUnits('0.1', 18)
const GENDER = `(rows) => rows.filter((r) => r.ridge === 'fine').length * 2 > rows.length ? 'female' : 'male'`
const rules = parseConsentRules({ purposes: ['demographics'], maxEpsilon: 2 })

type Device = { dir: string; rows: { ridge: string; reading: number }[]; secret: Uint8Array; payout: Address }
/** A device's own fingerprint readings: three of four agree with its gender. */
function makeDevice(i: number): Device {
  const female = i < FEMALE
  const rows = Array.from({ length: 4 }, (_, j) => ({ ridge: (j === 3 ? !female : female) ? 'fine' : 'coarse', reading: (i * 7 + j * 13) % 50 }))
  const dir = join(work, 'devices', String(i))
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'fingerprint.json'), JSON.stringify(rows))
  return { dir, rows, secret: new Uint8Array(randomBytes(32)), payout: privateKeyToAccount(generatePrivateKey()).address }
}

/** The CLI, asynchronously: the devnet's gateway runs in this process and must keep answering. */
async function w3a<T>(args: string[]): Promise<T> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [W3A_BIN, ...args, '--data-dir', dataDir, '--json'], { encoding: 'utf8', timeout: 180_000 })
    return JSON.parse(stdout) as T
  } catch (e) {
    const x = e as { stderr?: string; stdout?: string }
    throw new Error(`w3a ${args.join(' ')} failed: ${x.stderr ?? ''}\n${x.stdout ?? ''}`, { cause: e })
  }
}

async function waitClosed(id: bigint): Promise<Campaign> {
  const { publicClient } = createChainClients({ rpcUrl: devnet.rpcUrl, chainId: devnet.chainId })
  for (;;) {
    const c = await getCampaign(publicClient, { campaigns: devnet.contracts.campaigns, campaignId: id })
    if (c.status !== 'open') return c
    if (Date.now() / 1000 > Number(c.deadline) + 90) throw new Error(`campaign ${id} still open 90 s after its deadline`)
    await new Promise((r) => setTimeout(r, 500))
  }
}

/** Runs `fn` over items, `n` at a time (devices answer concurrently, as real ones do). */
async function pool<T, R>(items: T[], n: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = []
  let next = 0
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!, i)
    }
  }))
  return out
}

before(async () => {
  devnet = await startDevnet({ dataDir, port: 0 })
  analyst = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: devAccount(2) })
  relayer = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: devAccount(3) })
})

after(async () => {
  await devnet?.stop()
  rmSync(work, { recursive: true, force: true })
})

test('200 devices answer "male or female"; only the DP histogram is released; exactly the counted respondents are paid; a campaign below its minimum refunds', async () => {
  const { publicClient } = createChainClients({ rpcUrl: devnet.rpcUrl, chainId: devnet.chainId })
  const { campaigns, token } = devnet.contracts
  const balance = (account: Address) => getTokenBalance(publicClient, { token, account })
  const analystAddress = devAccount(2).address
  const start = await balance(analystAddress)

  // The analyst posts the question with the CLI: 250 answers at most, 150 at least, k 10, ε 1.
  writeFileSync(join(work, 'gender.js'), GENDER)
  const created = await w3a<{ id: string; aggregator: Address; escrow: string }>(['campaign', 'create', '--function', join(work, 'gender.js'), '--output', 'category:male,female', '--purpose', 'demographics', '--reward', '0.1', '--min', '150', '--max', '250', '--k', '10', '--epsilon', '1', '--deadline', '100', '--account', '2'])
  const idA = BigInt(created.id)
  assert.equal(created.aggregator, devnet.workers[0]!.address)
  assert.equal(await balance(analystAddress), start - 250n * REWARD, 'max × reward escrowed')
  const onChain = await getCampaign(publicClient, { campaigns, campaignId: idA })
  const { id: _i, status: _s, createdAt: _c, counted: _n, paramsHash, outputHash: _o, payoutRoot: _r, claims: _k, ...terms } = onChain
  assert.equal(campaignParamsHash({ chainId: devnet.chainId, campaigns, campaignId: idA }, terms), paramsHash, 'the enclave\'s paramsHash is the contract\'s')

  // A second campaign that will miss its minimum (50 of at most 60).
  const b = await createCampaign(analyst, { source: GENDER, output: 'category:male,female', purpose: 'demographics', reward: '0.1', minRespondents: 50, maxRespondents: 60, k: 10, epsilon: 1, deadline: Math.floor(Date.now() / 1000) + 40 })
  const afterB = await balance(analystAddress)

  // Before its deadline no result is accepted, whoever signs it.
  const forger = createChainClients({ rpcUrl: devnet.rpcUrl, chainId: devnet.chainId, account: devAccount(5) })
  await assert.rejects(
    submitCampaignResult(forger, { campaigns, campaignId: b.id, outputHash: `0x${'00'.repeat(32)}`, counted: 0, payoutRoot: `0x${'00'.repeat(32)}`, signature: await devAccount(5).signMessage({ message: 'x' }) }),
    (e) => e instanceof TxRevertedError && e.errorName === 'DeadlineNotReached',
  )

  // 200 devices. Device 0 runs the agent (CLI) over its data folder; the others use the SDK, 8 at a time.
  const devices = Array.from({ length: DEVICES }, (_, i) => makeDevice(i))
  writeFileSync(join(work, 'rules.json'), JSON.stringify({ purposes: ['demographics'], maxEpsilon: 2 }))
  const agent = await w3a<{ answered: { id: string; answer: string }[] }>(['agent', '--data', devices[0]!.dir, '--consent', join(work, 'rules.json'), '--payout', devices[0]!.payout, '--once'])
  assert.deepEqual(agent.answered.map((a) => a.id).sort(), [String(idA), String(b.id)].sort(), 'the agent answered both open campaigns once')
  assert.equal(agent.answered[0]!.answer, 'female')
  // Its secret is on the device: a second answer from it (agent state or not) is refused.
  const agentSecret = new Uint8Array(Buffer.from(readFileSync(join(devices[0]!.dir, '.w3a-agent', 'device.key'), 'utf8'), 'hex'))
  await assert.rejects(answerCampaign(relayer, { id: idA, rows: devices[0]!.rows, rules, deviceSecret: agentSecret, payout: devices[0]!.payout }), (e) => isW3aError(e, 'ANSWER_REFUSED'))
  const again = await w3a<{ answered: unknown[] }>(['agent', '--data', devices[0]!.dir, '--consent', join(work, 'rules.json'), '--payout', devices[0]!.payout, '--once'])
  assert.deepEqual(again.answered, [], 'the agent answers each campaign once')

  // Campaign B: three answers only (device 0's came from the agent).
  for (const d of devices.slice(1, 3)) await answerCampaign(relayer, { id: b.id, rows: d.rows, rules, deviceSecret: d.secret, payout: d.payout })
  await pool(devices.slice(1), 8, async (d) => answerCampaign(relayer, { id: idA, rows: d.rows, rules, deviceSecret: d.secret, payout: d.payout }))
  // Device 1 answers again, with another payout address and the other answer: its first answer counts, once.
  await assert.rejects(answerCampaign(relayer, { id: idA, rows: devices[150]!.rows, rules, deviceSecret: devices[1]!.secret, payout: privateKeyToAccount(generatePrivateKey()).address }), (e) => isW3aError(e, 'ANSWER_REFUSED') && /already answered/.test(String(e)))
  // A device whose rules refuse the purpose sends nothing.
  const bystander = makeDevice(DEVICES)
  await assert.rejects(answerCampaign(relayer, { id: idA, rows: bystander.rows, rules: parseConsentRules({ purposes: ['health research'], maxEpsilon: 2 }), deviceSecret: bystander.secret, payout: bystander.payout }), (e) => isW3aError(e, 'CONSENT_REFUSED'))

  // Before the deadline: no count, no partial result anywhere.
  await assert.rejects(getCampaignResult(analyst, { id: idA }), (e) => isW3aError(e, 'CAMPAIGN_PENDING'))
  assert.equal((await getCampaign(publicClient, { campaigns, campaignId: idA })).counted, 0)

  // Campaign B closes first: below its minimum, nothing released, the whole escrow back.
  const closedB = await waitClosed(b.id)
  assert.equal(closedB.status, 'below-minimum')
  assert.equal(closedB.counted, 3)
  assert.equal(await balance(analystAddress), afterB + 60n * REWARD, 'B refunded in full')
  const resultB = (await getCampaignResult(analyst, { id: b.id })).result
  assert.equal(resultB.released, false)
  assert.equal(resultB.output, null)
  await assert.rejects(claimCampaignReward(relayer, { id: b.id, payout: devices[1]!.payout }), (e) => isW3aError(e, 'CAMPAIGN_NOT_COUNTED'))

  // Campaign A: released after its deadline, over the 200 distinct devices.
  const closedA = await waitClosed(idA)
  assert.equal(closedA.status, 'released')
  assert.equal(closedA.counted, DEVICES)
  const shown = await w3a<CampaignResult>(['campaign', 'result', String(idA)])
  assert.equal(shown.released, true)
  assert.deepEqual(shown.output!.columns.map((c) => c.name), ['category', 'units'])
  const counts = Object.fromEntries(shown.output!.rows.map((r) => [r[0], Number(r[1])]))
  // ε = 1 over one histogram (L1 sensitivity 1): noise scale 1; the truth is 130 female, 70 male.
  assert.ok(Math.abs(counts['female']! - FEMALE) <= 15 && Math.abs(counts['male']! - (DEVICES - FEMALE)) <= 15, JSON.stringify(counts))
  assert.deepEqual(Object.keys(shown).sort(), ['aggregator', 'campaignId', 'campaigns', 'chainId', 'counted', 'output', 'outputHash', 'paramsHash', 'payoutRoot', 'payouts', 'released', 'signature', 'v'].sort(), 'nothing but the aggregate and the payout list')
  assert.deepEqual([...shown.payouts].sort(), devices.map((d) => d.payout).sort(), 'the counted respondents are exactly the 200 devices')
  assert.equal(await balance(analystAddress), afterB + 60n * REWARD + 50n * REWARD, 'A: the 50 unused answers refunded')
  assert.equal(await balance(analystAddress), start - BigInt(DEVICES) * REWARD, 'the analyst paid exactly the 200 counted answers')

  // Claims: device 0 through the CLI (sent by account 3), the rest straight on chain; each paid once.
  const claimed = await w3a<{ amount: string }>(['campaign', 'claim', String(idA), '--payout', devices[0]!.payout, '--account', '3'])
  assert.equal(BigInt(claimed.amount), REWARD)
  const sender = createChainClients({ rpcUrl: devnet.rpcUrl, chainId: devnet.chainId, account: devAccount(3) })
  for (const d of devices.slice(1)) await claimOnChain(sender, { campaigns, campaignId: idA, account: d.payout, proof: payoutProof(idA, shown.payouts, d.payout) })
  for (const d of devices) assert.equal(await balance(d.payout), REWARD, `${d.payout} paid once`)
  await assert.rejects(claimCampaignReward(relayer, { id: idA, payout: devices[9]!.payout }), (e) => isW3aError(e, 'NOTHING_TO_CLAIM'))
  // Someone who did not answer: no proof exists, and a borrowed one does not lead to the root.
  await assert.rejects(claimCampaignReward(relayer, { id: idA, payout: bystander.payout }), (e) => isW3aError(e, 'CAMPAIGN_NOT_COUNTED'))
  await assert.rejects(claimOnChain(sender, { campaigns, campaignId: idA, account: bystander.payout, proof: payoutProof(idA, shown.payouts, devices[4]!.payout) }), (e) => e instanceof TxRevertedError && e.errorName === 'NotCounted')
  assert.equal((await getCampaign(publicClient, { campaigns, campaignId: idA })).claims, DEVICES)
  assert.equal(await balance(campaigns), 0n, 'the contract holds nothing once all are paid')

  // What the aggregator's host keeps of the answers is sealed: no category, no payout address in the clear.
  const enclaveDir = join(dataDir, 'worker-0', 'enclave', 'campaigns')
  const files = (function walk(d: string): string[] {
    return readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]))
  })(enclaveDir)
  assert.ok(files.length >= 4)
  for (const f of files) {
    const text = readFileSync(f).toString('latin1')
    assert.ok(!/female|"male"/.test(text) && !text.toLowerCase().includes(devices[7]!.payout.slice(2).toLowerCase()), `${f} holds plaintext`)
  }
})
