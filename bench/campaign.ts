/**
 * A campaign's aggregation on the enclave's path vs. summing the same answers in plaintext, same
 * machine, same run. Prints figures only; benchmarks never assert. The last line is the judged ratio.
 *
 * Setup (not timed): BENCH_ANSWERS (default 100,000) simulated devices, each with its own device
 * secret and payout address, answer "male or female" (category:male,female): each answer sealed
 * (HPKE, to the aggregator's key, under the campaign's paramsHash) with its one-time token, as
 * the agent does (sealAnswer, with node:crypto's X25519 instead of @hpke/core's to keep the setup short).
 *
 * Timed:
 *   enclave : the aggregator as it runs in the worker's TEE (src/enclave/campaign-aggregator.ts,
 *             sealing key and worker identity as the enclave makes them, sealed log fsync'd on
 *             disk): every envelope accepted (HPKE open, parse, type check, token and payout
 *             dedup, sealed log frame durable before the acknowledgement), BENCH_CONCURRENCY
 *             (default 256) in flight, as a host relays concurrent devices (group commit);
 *             then deadline → verified result: the release (DP histogram, payout Merkle root,
 *             signature, sealed release record) and its verification as a client does it
 *             (signature recovered, output hash, root over the 100,000 payout addresses).
 *   plain   : the same answers, already in plaintext in memory, counted per category.
 * Same answer: every envelope is accepted, the counted respondents are exactly the devices, and
 * the noised histogram is within 30 of the plaintext counts (ε 1: noise scale 1); the bench
 * exits non-zero otherwise.
 *
 *   npm run bench:campaign
 *   BENCH_ANSWERS=20000 npm run bench:campaign
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { bytesToHex, getAddress, type Address } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { campaignParamsHash, type Campaign, type CampaignTerms } from '../src/chain/campaigns.js'
import { answerToken, sealAnswer, type AnswerEnvelope } from '../src/campaigns/answer-format.js'
import { verifyCampaignResult } from '../src/campaigns/result-format.js'
import { CampaignAggregator } from '../src/enclave/campaign-aggregator.js'
import { hpkeSealSync } from '../src/crypto/hpke-export-node.js'
import { createEnclaveIdentity } from '../src/tee/index.js'

const N = Number(process.env.BENCH_ANSWERS ?? 100_000)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 256)
const CHAIN_ID = 31337
const CAMPAIGNS: Address = getAddress('0x4444444444444444444444444444444444444444')
const ID = 0n
const CATEGORIES = ['male', 'female'] as const

function fail(why: string): never {
  console.error(`bench:campaign: ${why}`)
  process.exit(1)
}

const dir = mkdtempSync(join(tmpdir(), 'w3a-bench-campaign-'))
process.once('exit', () => rmSync(dir, { recursive: true, force: true }))

const identity = await createEnclaveIdentity()
const sealingKey = new Uint8Array(randomBytes(32))
const deadline = BigInt(Math.floor(Date.now() / 1000) + 86_400)
const terms: CampaignTerms = {
  analyst: getAddress('0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'),
  aggregator: identity.signer.address,
  functionHash: `0x${'11'.repeat(32)}`,
  functionCid: 'bafkreibench',
  output: 'category:male,female',
  purpose: 'demographics',
  rewardPerAnswer: 10n ** 15n,
  minRespondents: 1000,
  maxRespondents: N,
  k: 10,
  epsilonMicros: 1_000_000n,
  deadline,
}
const domain = { chainId: CHAIN_ID, campaigns: CAMPAIGNS, campaignId: ID }
const paramsHash = campaignParamsHash(domain, terms)
const aggregatorKey = bytesToHex(identity.hpke.publicKey)

console.log(`bench:campaign — ${N} devices, category:male,female, ε 1, k 10; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} (${process.env.npm_lifecycle_event ?? 'direct'})`)
let t = performance.now()
const answers: { category: number; payout: Address; envelope: AnswerEnvelope }[] = []
const payoutKey = privateKeyToAccount(generatePrivateKey())
for (let i = 0; i < N; i++) {
  const category = (i * 7919) % 10 < 6 ? 1 : 0 // 60 % female
  // Distinct payout addresses without 100,000 key generations: the address bytes are what the tree hashes.
  const payout = getAddress(`0x${(BigInt(payoutKey.address) ^ BigInt(i + 1)).toString(16).padStart(40, '0')}`)
  const token = answerToken(new Uint8Array(randomBytes(32)), domain)
  answers.push({ category, payout, envelope: await sealAnswer({ campaignId: ID, paramsHash, aggregatorKey, plaintext: { v: 1, token, payout, answer: CATEGORIES[category]! }, seal: hpkeSealSync }) })
}
console.log(`  setup: ${N} answers sealed on the devices' side in ${((performance.now() - t) / 1000).toFixed(1)} s (not timed)`)

// Plaintext baseline: the same answers, counted per category.
const plainRuns: number[] = []
let plainCounts = [0, 0]
for (let r = 0; r < 5; r++) {
  t = performance.now()
  const counts = [0, 0]
  for (const a of answers) counts[a.category]!++
  plainRuns.push((performance.now() - t) / 1000)
  plainCounts = counts
}
const plainSeconds = Math.min(...plainRuns)

// Enclave path.
const agg = new CampaignAggregator({ dir, sealingKey, hpkePrivateKey: identity.hpke.privateKey, signer: identity.signer, chainId: CHAIN_ID })
await agg.openCampaign({ campaigns: CAMPAIGNS, campaignId: ID, terms })
const now = Number(deadline) * 1000 - 60_000
t = performance.now()
let next = 0
let accepted = 0
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < answers.length) {
      const a = answers[next++]!
      await agg.accept(CAMPAIGNS, a.envelope, now)
      accepted++
    }
  }),
)
const acceptSeconds = (performance.now() - t) / 1000
t = performance.now()
const result = await agg.release(CAMPAIGNS, ID, Number(deadline) * 1000 + 1000)
const releaseSeconds = (performance.now() - t) / 1000
const campaign: Campaign = { ...terms, id: ID, status: 'open', createdAt: 0n, counted: 0, paramsHash, outputHash: `0x${'00'.repeat(32)}`, payoutRoot: `0x${'00'.repeat(32)}`, claims: 0 }
await verifyCampaignResult(result, campaign, { chainId: CHAIN_ID, campaigns: CAMPAIGNS })
const resultSeconds = (performance.now() - t) / 1000
agg.close()

if (accepted !== N || result.counted !== N) fail(`accepted ${accepted}, counted ${result.counted}, expected ${N}`)
const expected = new Set(answers.map((a) => a.payout))
if (result.payouts.length !== N || result.payouts.some((p) => !expected.has(p))) fail('the counted respondents are not exactly the devices')
const noisy = Object.fromEntries(result.output!.rows.map((r) => [r[0], Number(r[1])]))
for (const [i, c] of CATEGORIES.entries()) if (Math.abs(noisy[c]! - plainCounts[i]!) > 30) fail(`${c}: noised ${noisy[c]} vs plaintext ${plainCounts[i]}`)

const enclaveRate = N / acceptSeconds
const plainRate = N / plainSeconds
console.log(`  plaintext counts: male ${plainCounts[0]}, female ${plainCounts[1]}; released (DP, ε 1): male ${noisy['male']}, female ${noisy['female']}`)
console.log(`  enclave: ${enclaveRate.toFixed(0)} answers/s accepted (${((acceptSeconds / N) * 1e6).toFixed(0)} µs each; HPKE open, checks, sealed fsync'd log; ${CONCURRENCY} in flight) — ${acceptSeconds.toFixed(1)} s for ${N}`)
console.log(`  deadline → verified result: ${(resultSeconds * 1e3).toFixed(0)} ms (release: DP histogram, Merkle root over ${N} payouts, signature, sealed record ${(releaseSeconds * 1e3).toFixed(0)} ms; client verification ${((resultSeconds - releaseSeconds) * 1e3).toFixed(0)} ms)`)
console.log(`  plaintext sum: ${plainRate.toFixed(0)} answers/s (${(plainSeconds * 1e3).toFixed(2)} ms for ${N}, best of 5)`)
console.log(`  load average after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
console.log(`ratio (enclave answers/s / plaintext sum answers/s): ${(enclaveRate / plainRate).toExponential(2)} (target >= 1e-4: one HPKE open and a durable sealed log entry per answer vs one addition)`)
