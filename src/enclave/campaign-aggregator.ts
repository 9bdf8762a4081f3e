/**
 * The campaign aggregator inside the TEE (docs/campaigns.md, "Inside the aggregator"). Invariants:
 *
 * - Whom it answers for comes from the answers themselves: each opens only under the paramsHash
 *   of the terms the host passed (answer-format.ts), and the result is signed over that same
 *   hash, which the contract compares with its own. A host lying about a campaign's terms (k, ε,
 *   deadline, minimum) opens nothing and gets a result the chain refuses.
 * - One answer per token, and per payout address: the token is taken in memory before the answer
 *   is logged, so two copies racing in count once; the first answer counts, later ones are
 *   refused (a replay by the host is just such a copy).
 * - An answer is acknowledged only once it is in the sealed log (ingest-log.ts, one label of its
 *   own, frames numbered: a host that drops, repeats or reorders frames is caught on replay).
 *   A restart replays the log: no accepted answer is lost, none counts twice.
 * - Nothing about the answers leaves before the deadline (this enclave's clock): no count, no
 *   partial aggregate. After it, one release: the result is sealed to disk before it is returned
 *   and every later call returns that same result; no answer is taken after it.
 * - Noise is drawn from a stream keyed by HMAC(sealing key, paramsHash ‖ hash of the counted
 *   tokens): released again over the same answers (a host that restored an older copy of the
 *   release file) it is the same numbers, nothing to average; over another answer set it is
 *   fresh noise, as a second ε-DP release.
 * - Below max(minimum, k) answers nothing is released: the signed result has no output, no
 *   payouts, and the contract refunds the analyst.
 */
import { createHash, createHmac } from 'node:crypto'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { getAddress, hexToBytes, isAddress, type Address, type Hex, type LocalAccount } from 'viem'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { DEFAULT_DELTA } from '../analysis/analysis-request.js'
import { keyedRng } from '../analysis/keyed-rng.js'
import { parseOutputSpec, type UnitOutput, type UnitValue } from '../analysis/unit-function/output-type.js'
import { aggregatesFor, gateUnitValues } from '../analysis/unit-function/unit-gate.js'
import { campaignParamsHash, campaignResultDigest, type CampaignDomain, type CampaignTerms } from '../chain/campaigns.js'
import { answerValue, openAnswer, parseAnswerEnvelope } from '../campaigns/answer-format.js'
import { EMPTY_ROOT, payoutRoot } from '../campaigns/payout-tree.js'
import { campaignOutputHash, campaignOutputOf, ZERO_HASH, type CampaignResult } from '../campaigns/result-format.js'
import { readSealedFile, writeSealedFile } from '../tee/index.js'
import { IngestLog, decodeCheckpoint, encodeCheckpoint } from './ingest-log.js'
import { hpkeOpenSync, x25519Recipient, type X25519Recipient } from '../crypto/hpke-export-node.js'

const LABEL = { terms: 'w3a/enclave/campaign-terms/v1', answers: 'w3a/enclave/campaign-answers/v1', logPin: 'w3a/enclave/campaign-answers-pin/v1', release: 'w3a/enclave/campaign-release/v1' } as const

const addr = z.string().refine((s) => isAddress(s, { strict: false }), 'not an address')
const b32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/)
const u32 = z.number().int().min(0).max(2 ** 32 - 1)
const u64 = z.bigint().min(0n).max(2n ** 64n - 1n)
/** The host's read of a campaign, parsed strictly (its values are then bound by paramsHash). */
const OpenSchema = z.strictObject({
  campaigns: addr,
  campaignId: z.bigint().min(0n),
  terms: z.strictObject({
    analyst: addr,
    aggregator: addr,
    functionHash: b32,
    functionCid: z.string().max(256),
    output: z.string().max(256),
    purpose: z.string().max(256),
    rewardPerAnswer: z.bigint().min(0n),
    minRespondents: u32,
    maxRespondents: u32.max(1_000_000),
    k: u32.min(2),
    epsilonMicros: u64.min(1n),
    deadline: u64,
  }),
})

/** One accepted answer as logged: token, payout address, the typed value. */
type Accepted = { t: Hex; p: Address; v: UnitValue }

type Open = {
  domain: CampaignDomain
  terms: CampaignTerms
  paramsHash: Hex
  output: UnitOutput
  log: IngestLog<Accepted>
  tokens: Set<string>
  payouts: Set<string>
  answers: Accepted[]
  result: CampaignResult | undefined
}

export type CampaignAcceptance = { accepted: true; campaignId: string }

export class CampaignAggregator {
  private readonly open = new Map<string, Open>()
  /** The attested HPKE key, imported once for node:crypto's native X25519 (one open per answer). */
  private readonly recipient: X25519Recipient

  constructor(private readonly p: { dir: string; sealingKey: Uint8Array; hpkePrivateKey: Uint8Array; signer: LocalAccount; chainId: number }) {
    mkdirSync(p.dir, { recursive: true, mode: 0o700 })
    this.recipient = x25519Recipient(p.hpkePrivateKey)
  }

  private dirOf(campaigns: Address, id: bigint): string {
    return join(this.p.dir, `${campaigns.toLowerCase()}-${id}`)
  }

  /**
   * Takes a campaign's terms as its host read them from the chain: sealed on first sight, and any
   * other terms for the same campaign refused afterwards. Replays its sealed answers after a restart.
   */
  async openCampaign(input: { campaigns: Address; campaignId: bigint; terms: CampaignTerms }): Promise<{ campaignId: string; paramsHash: Hex }> {
    const parsed = OpenSchema.safeParse(input)
    if (!parsed.success) throw new W3aError('INVALID_ARGUMENT', `campaign to open: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
    const raw = parsed.data as { campaigns: Address; campaignId: bigint; terms: CampaignTerms }
    const domain: CampaignDomain = { chainId: this.p.chainId, campaigns: getAddress(raw.campaigns), campaignId: raw.campaignId }
    const terms = raw.terms
    const paramsHash = campaignParamsHash(domain, terms)
    const key = `${domain.campaigns.toLowerCase()}-${domain.campaignId}`
    const known = this.open.get(key)
    if (known) {
      if (known.paramsHash !== paramsHash) throw new W3aError('INVALID_ARGUMENT', `campaign ${domain.campaignId} is already open here under other terms`)
      return { campaignId: domain.campaignId.toString(), paramsHash }
    }
    if (terms.aggregator.toLowerCase() !== this.p.signer.address.toLowerCase()) throw new W3aError('INVALID_ARGUMENT', `campaign ${domain.campaignId} is assigned to ${terms.aggregator}, not to this worker`)
    const output = parseOutputSpec(terms.output)
    const dir = this.dirOf(domain.campaigns, domain.campaignId)
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const termsFile = join(dir, 'terms.sealed')
    if (existsSync(termsFile)) {
      const sealed = new TextDecoder().decode(readSealedFile(termsFile, this.p.sealingKey, LABEL.terms))
      if (sealed !== paramsHash) throw new W3aError('INVALID_ARGUMENT', `campaign ${domain.campaignId} was opened here under other terms`)
    } else writeSealedFile(termsFile, this.p.sealingKey, LABEL.terms, new TextEncoder().encode(paramsHash))
    const log = new IngestLog<Accepted>(dir, this.p.sealingKey, LABEL.answers)
    const c: Open = { domain, terms, paramsHash, output, log, tokens: new Set(), payouts: new Set(), answers: [], result: undefined }
    // The log's generation is pinned in a sealed file of its own (the answers log is never rewritten, so the pin is taken once).
    const pinFile = join(dir, 'answers-pin.sealed')
    const pinned = existsSync(pinFile) ? decodeCheckpoint(readSealedFile(pinFile, this.p.sealingKey, LABEL.logPin)) : undefined
    for (const a of log.replay(pinned, (pin) => writeSealedFile(pinFile, this.p.sealingKey, LABEL.logPin, encodeCheckpoint(pin)))) {
      // A log that repeats a token was not written by this code: the host spliced it.
      if (c.tokens.has(a.t) || c.payouts.has(a.p.toLowerCase())) throw new W3aError('INTERNAL', `campaign ${domain.campaignId}: the sealed answer log repeats an answer`)
      c.tokens.add(a.t)
      c.payouts.add(a.p.toLowerCase())
      c.answers.push(a)
    }
    const releaseFile = join(dir, 'release.sealed')
    if (existsSync(releaseFile)) c.result = JSON.parse(new TextDecoder().decode(readSealedFile(releaseFile, this.p.sealingKey, LABEL.release))) as CampaignResult
    this.open.set(key, c)
    return { campaignId: domain.campaignId.toString(), paramsHash }
  }

  private campaign(campaigns: Address, id: bigint): Open {
    const c = this.open.get(`${campaigns.toLowerCase()}-${id}`)
    if (!c) throw new W3aError('CAMPAIGN_NOT_FOUND', `campaign ${id} is not open on this aggregator`)
    return c
  }

  /** One relayed envelope: opened, checked, deduplicated, logged; resolves once durable. `nowMs` is this enclave's clock. */
  async accept(campaigns: Address, rawEnvelope: unknown, nowMs: number): Promise<CampaignAcceptance> {
    const envelope = parseAnswerEnvelope(rawEnvelope)
    if (typeof campaigns !== 'string' || !isAddress(campaigns, { strict: false })) throw new W3aError('INVALID_ARGUMENT', 'campaigns contract is not an address')
    const c = this.campaign(campaigns, BigInt(envelope.campaignId))
    const closed = (why: string) => new W3aError('CAMPAIGN_CLOSED', `campaign ${envelope.campaignId} takes no more answers: ${why}`)
    if (c.result) throw closed('its result was released')
    if (nowMs >= Number(c.terms.deadline) * 1000) throw closed('its deadline has passed')
    const a = openAnswer({ paramsHash: c.paramsHash, envelope, open: (enc, info, ct) => hpkeOpenSync(this.recipient, enc, info, ct) })
    const v = answerValue(c.output, a.answer)
    if (c.tokens.has(a.token)) throw new W3aError('ANSWER_REFUSED', 'this device already answered this campaign (its one-time token was used): the first answer counts')
    if (c.payouts.has(a.payout.toLowerCase())) throw new W3aError('ANSWER_REFUSED', 'this payout address already answered this campaign: the first answer counts')
    if (c.answers.length >= c.terms.maxRespondents) throw closed('it has its maximum number of respondents')
    // Taken before the await: a copy racing in is refused above.
    c.tokens.add(a.token)
    c.payouts.add(a.payout.toLowerCase())
    const row: Accepted = { t: a.token, p: a.payout, v }
    c.answers.push(row)
    try {
      await c.log.append([row])
    } catch (e) {
      // Not durable, so not acknowledged: it must not count either (the respondent may send it again).
      c.answers.splice(c.answers.indexOf(row), 1)
      c.tokens.delete(a.token)
      c.payouts.delete(a.payout.toLowerCase())
      throw e
    }
    return { accepted: true, campaignId: envelope.campaignId }
  }

  /** After the deadline (this enclave's clock): the one signed result of the campaign. CAMPAIGN_PENDING before it. */
  async release(campaigns: Address, id: bigint, nowMs: number): Promise<CampaignResult> {
    const c = this.campaign(campaigns, id)
    if (c.result) return c.result
    if (nowMs <= Number(c.terms.deadline) * 1000) throw new W3aError('CAMPAIGN_PENDING', `campaign ${id} is open until ${new Date(Number(c.terms.deadline) * 1000).toISOString()}: nothing is released before`)
    const t = c.terms
    const counted = c.answers.length
    const released = counted >= Math.max(t.minRespondents, t.k)
    let output: CampaignResult['output'] = null
    let payouts: Address[] = []
    if (released) {
      const epsilon = Number(t.epsilonMicros) / 1e6
      const seed = this.noiseSeed(c)
      const gate = gateUnitValues({
        output: c.output,
        aggregate: aggregatesFor(c.output)[0]!,
        groups: [{ key: null, values: c.answers.map((a) => a.v) }],
        k: t.k,
        epsilon,
        delta: DEFAULT_DELTA,
        maxGroupsPerUnit: 1,
        noise: (label) => keyedRng(seed, label),
      })
      seed.fill(0)
      output = campaignOutputOf(gate, { epsilon, mechanism: gate.mechanism, noiseScale: gate.noiseScale, k: t.k })
      payouts = c.answers.map((a) => a.p).sort((x, y) => (x.toLowerCase() < y.toLowerCase() ? -1 : 1))
    }
    const outputHash = released ? campaignOutputHash(output) : ZERO_HASH
    const root = released ? payoutRoot(id, payouts) : EMPTY_ROOT
    const digest = campaignResultDigest({ ...c.domain, paramsHash: c.paramsHash, outputHash, counted, payoutRoot: root })
    const signature = await this.p.signer.signMessage({ message: { raw: digest } })
    const result: CampaignResult = {
      v: 1,
      chainId: c.domain.chainId,
      campaigns: c.domain.campaigns,
      campaignId: id.toString(),
      paramsHash: c.paramsHash,
      aggregator: this.p.signer.address,
      counted,
      released,
      output,
      payouts,
      outputHash,
      payoutRoot: root,
      signature,
    }
    // Sealed before it leaves: a restart returns this same result, and takes no answer after it.
    writeSealedFile(join(this.dirOf(c.domain.campaigns, id), 'release.sealed'), this.p.sealingKey, LABEL.release, new TextEncoder().encode(JSON.stringify(result)))
    c.result = result
    return result
  }

  private noiseSeed(c: Open): Uint8Array {
    const tokens = createHash('sha256')
    for (const tok of c.answers.map((a) => a.t).sort()) tokens.update(hexToBytes(tok))
    return new Uint8Array(createHmac('sha256', this.p.sealingKey).update('w3a.campaign-noise.v1').update(hexToBytes(c.paramsHash)).update(tokens.digest()).digest())
  }

  close(): void {
    for (const c of this.open.values()) c.log.close()
  }
}
