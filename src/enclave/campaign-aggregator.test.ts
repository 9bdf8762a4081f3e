import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { getAddress, type Address } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { generateHpkeKeyPair } from '../crypto/hpke.js'
import { bytesToHex } from 'viem'
import { campaignParamsHash, type Campaign, type CampaignTerms } from '../chain/campaigns.js'
import { answerToken, sealAnswer, type AnswerValue } from '../campaigns/answer-format.js'
import { verifyCampaignResult } from '../campaigns/result-format.js'
import { payoutLeaf, payoutProof, verifyPayoutProof } from '../campaigns/payout-tree.js'
import { CampaignAggregator } from './campaign-aggregator.js'

const dirs: string[] = []
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

const chainId = 31337
const campaigns = getAddress(`0x${'cc'.repeat(20)}`)
const signer = privateKeyToAccount(generatePrivateKey())
const sealingKey = new Uint8Array(randomBytes(32))
const key = await generateHpkeKeyPair()
const aggregatorKey = bytesToHex(key.publicKey)
const deadline = BigInt(Math.floor(Date.now() / 1000) + 3600)
const terms = (more: Partial<CampaignTerms> = {}): CampaignTerms => ({
  analyst: getAddress(`0x${'aa'.repeat(20)}`),
  aggregator: signer.address,
  functionHash: `0x${'11'.repeat(32)}`,
  functionCid: 'bafkreiexample',
  output: 'category:male,female',
  purpose: 'demographics',
  rewardPerAnswer: 10n ** 17n,
  minRespondents: 20,
  maxRespondents: 100,
  k: 10,
  epsilonMicros: 2_000_000n,
  deadline,
  ...more,
})
const before = Number(deadline) * 1000 - 1000
const afterDeadline = Number(deadline) * 1000 + 1000

function open(dir?: string) {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'w3a-campaign-'))
  if (!dir) dirs.push(d)
  return { dir: d, agg: new CampaignAggregator({ dir: d, sealingKey, hpkePrivateKey: key.privateKey, signer, chainId }) }
}
type Device = { secret: Uint8Array; payout: Address }
const device = (): Device => ({ secret: new Uint8Array(randomBytes(32)), payout: privateKeyToAccount(generatePrivateKey()).address })
async function envelope(id: bigint, t: CampaignTerms, d: Device, answer: AnswerValue, paramsHash = campaignParamsHash({ chainId, campaigns, campaignId: id }, t)) {
  const token = answerToken(d.secret, { chainId, campaigns, campaignId: id })
  return sealAnswer({ campaignId: id, paramsHash, aggregatorKey, plaintext: { v: 1, token, payout: d.payout, answer } })
}
const asCampaign = (id: bigint, t: CampaignTerms, status: Campaign['status'] = 'open'): Campaign => ({
  ...t,
  id,
  status,
  createdAt: 0n,
  counted: 0,
  paramsHash: campaignParamsHash({ chainId, campaigns, campaignId: id }, t),
  outputHash: `0x${'00'.repeat(32)}`,
  payoutRoot: `0x${'00'.repeat(32)}`,
  claims: 0,
})

describe('campaign aggregator (enclave)', () => {
  it('counts each device once, survives a restart, releases one DP histogram after the deadline only', async () => {
    const t = terms()
    const { dir, agg } = open()
    await agg.openCampaign({ campaigns, campaignId: 0n, terms: t })
    const devices = Array.from({ length: 60 }, device)
    const truth = devices.map((_, i) => (i % 3 === 0 ? 'female' : 'male'))
    for (let i = 0; i < 40; i++) await agg.accept(campaigns, await envelope(0n, t, devices[i]!, truth[i]!), before)
    // The same device again (another answer, or a replay of its first): refused, the first counts.
    await assert.rejects(agg.accept(campaigns, await envelope(0n, t, devices[0]!, 'female'), before), (e) => isW3aError(e, 'ANSWER_REFUSED') && /already answered/.test(String(e)))
    // Not of the declared type; sealed under other terms (the host lied: k = 2); another campaign's.
    await assert.rejects(agg.accept(campaigns, await envelope(0n, t, device(), 'other'), before), (e) => isW3aError(e, 'ANSWER_REFUSED') && /declared type/.test(String(e)))
    await assert.rejects(agg.accept(campaigns, await envelope(0n, t, device(), 'male', campaignParamsHash({ chainId, campaigns, campaignId: 0n }, terms({ k: 2 }))), before), (e) => isW3aError(e, 'ANSWER_REFUSED') && /does not open/.test(String(e)))
    // Nothing before the deadline, not even a count.
    await assert.rejects(agg.release(campaigns, 0n, before), (e) => isW3aError(e, 'CAMPAIGN_PENDING'))
    await assert.rejects(agg.openCampaign({ campaigns, campaignId: 0n, terms: terms({ k: 2 }) }), /other terms/)
    agg.close()

    // Restart: the sealed log brings back the 40 answers and their tokens.
    const again = open(dir).agg
    await again.openCampaign({ campaigns, campaignId: 0n, terms: t })
    await assert.rejects(again.openCampaign({ campaigns, campaignId: 0n, terms: terms({ epsilonMicros: 100_000_000n }) }), /other terms/)
    await assert.rejects(again.accept(campaigns, await envelope(0n, t, devices[5]!, 'male'), before), (e) => isW3aError(e, 'ANSWER_REFUSED'))
    for (let i = 40; i < 60; i++) await again.accept(campaigns, await envelope(0n, t, devices[i]!, truth[i]!), before)
    await assert.rejects(again.accept(campaigns, await envelope(0n, t, device(), 'male'), afterDeadline), (e) => isW3aError(e, 'CAMPAIGN_CLOSED'))

    const r = await again.release(campaigns, 0n, afterDeadline)
    assert.equal(r.counted, 60)
    assert.equal(r.released, true)
    assert.deepEqual(r.output!.columns.map((c) => c.name), ['category', 'units'])
    const counts = Object.fromEntries(r.output!.rows.map((row) => [row[0], Number(row[1])]))
    assert.ok(Math.abs(counts['male']! - 40) <= 8 && Math.abs(counts['female']! - 20) <= 8, JSON.stringify(counts))
    assert.deepEqual([...r.payouts].sort(), devices.map((d) => d.payout).sort(), 'exactly the counted devices are paid')
    await verifyCampaignResult(r, asCampaign(0n, t), { chainId, campaigns })
    const proof = payoutProof(0n, r.payouts, devices[7]!.payout)
    assert.ok(verifyPayoutProof(r.payoutRoot, payoutLeaf(0n, devices[7]!.payout), proof))
    // One release: asked again (and after a restart) it is the same signed result; no answer after it.
    assert.deepEqual(await again.release(campaigns, 0n, afterDeadline + 5000), r)
    again.close()
    const third = open(dir).agg
    await third.openCampaign({ campaigns, campaignId: 0n, terms: t })
    assert.deepEqual(await third.release(campaigns, 0n, afterDeadline), r)
    await assert.rejects(third.accept(campaigns, await envelope(0n, t, device(), 'male'), before), (e) => isW3aError(e, 'CAMPAIGN_CLOSED'))
    // A forged result (another output) does not verify.
    await assert.rejects(verifyCampaignResult({ ...r, output: { ...r.output!, rows: [['male', '60'], ['female', '0']] } }, asCampaign(0n, t), { chainId, campaigns }), /does not match its hash/)
    third.close()
  })

  it('a host that splices the sealed log is caught on replay', async () => {
    const t = terms({ output: 'number:0:10' })
    const { dir, agg } = open()
    await agg.openCampaign({ campaigns, campaignId: 1n, terms: t })
    for (let i = 0; i < 3; i++) await agg.accept(campaigns, await envelope(1n, t, device(), 5), before)
    agg.close()
    const logDir = join(dir, `${campaigns.toLowerCase()}-1`)
    const wal = join(logDir, readdirSync(logDir).find((f) => /^events\.[0-9a-f]+\.wal$/.test(f))!)
    const bytes = readFileSync(wal)
    const first = 4 + bytes.readUInt32BE(0)
    writeFileSync(wal, Buffer.concat([bytes, bytes.subarray(0, first)])) // frame 0 again at the end
    await assert.rejects(open(dir).agg.openCampaign({ campaigns, campaignId: 1n, terms: t }))
  })

  it('below the minimum nothing is released: no output, no payouts', async () => {
    const t = terms()
    const { agg } = open()
    await agg.openCampaign({ campaigns, campaignId: 2n, terms: t })
    for (let i = 0; i < 5; i++) await agg.accept(campaigns, await envelope(2n, t, device(), 'male'), before)
    const r = await agg.release(campaigns, 2n, afterDeadline)
    assert.equal(r.released, false)
    assert.equal(r.output, null)
    assert.deepEqual(r.payouts, [])
    assert.equal(r.counted, 5)
    await verifyCampaignResult(r, asCampaign(2n, t), { chainId, campaigns })
    agg.close()
  })
})
