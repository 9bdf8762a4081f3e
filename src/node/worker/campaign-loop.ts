/**
 * The host side of a campaign aggregator (docs/campaigns.md, "Inside the aggregator"). A courier:
 * it reads the campaigns assigned to its worker from the chain and hands their terms to the
 * enclave (which trusts them only as far as answers open under them and the contract accepts
 * the signature over them), relays sealed answers, asks for the one release once the deadline
 * has passed by the chain's clock, keeps the signed result (public) where the gateway can fetch
 * it, and posts it with its operator account (the contract checks the aggregator's signature).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Address, LocalAccount } from 'viem'
import { W3aError, isW3aError } from '../../core/errors.js'
import { writeFileAtomic } from '../../core/atomic-write.js'
import { createChainClients, getCampaign, listCampaigns, submitCampaignResult, type Campaign, type ChainPublicClient } from '../../chain/index.js'
import type { CampaignResult } from '../../campaigns/result-format.js'
import type { EnclaveCaller } from './enclave-caller.js'

export type CampaignLoop = {
  /** Opens the campaign in the enclave if it is assigned here and open (an answer may arrive before the next poll). */
  ensureOpen(id: bigint): Promise<void>
  /** The stored signed result, if released. */
  result(id: bigint): CampaignResult | undefined
  /** One round now: open new campaigns, release and post those past their deadline. */
  tick(): Promise<void>
  stop(): Promise<void>
}

export function startCampaignLoop(p: {
  caller: EnclaveCaller
  publicClient: ChainPublicClient
  rpcUrl: string
  chainId: number
  campaigns: Address
  self: Address
  operator: LocalAccount
  dataDir: string
  pollMs?: number
  log: (line: string) => void
}): CampaignLoop {
  const dir = join(p.dataDir, 'campaign-results')
  mkdirSync(dir, { recursive: true })
  const opened = new Set<string>()
  const fileOf = (id: bigint) => join(dir, `${id}.json`)
  const writer = createChainClients({ rpcUrl: p.rpcUrl, chainId: p.chainId, account: p.operator })

  const open = async (c: Campaign) => {
    if (opened.has(String(c.id))) return
    const { id, status: _s, createdAt: _c, counted: _n, paramsHash: _p, outputHash: _o, payoutRoot: _r, claims: _k, ...terms } = c
    await p.caller.call('campaignOpen', { campaigns: p.campaigns, campaignId: id, terms })
    opened.add(String(id))
  }

  const release = async (c: Campaign) => {
    const result = await p.caller.call<CampaignResult>('campaignRelease', { campaigns: p.campaigns, campaignId: c.id })
    writeFileAtomic(fileOf(c.id), JSON.stringify(result))
    await submitCampaignResult(writer, { campaigns: p.campaigns, campaignId: c.id, outputHash: result.outputHash, counted: result.counted, payoutRoot: result.payoutRoot, signature: result.signature })
    p.log(`campaign ${c.id}: ${result.released ? `released over ${result.counted} answers` : `below its minimum (${result.counted} answers): refunded`}`)
  }

  let running: Promise<void> | undefined
  const round = async () => {
    const mine = await listCampaigns(p.publicClient, { campaigns: p.campaigns, aggregator: p.self, status: 'open' })
    if (mine.length === 0) return
    const { timestamp } = await p.publicClient.getBlock({ blockTag: 'latest' })
    const now = BigInt(Math.max(Number(timestamp), Math.floor(Date.now() / 1000)))
    for (const c of mine) {
      try {
        await open(c)
        if (now > c.deadline) await release(c)
      } catch (e) {
        // Pending by the enclave's clock, or the block not yet past the deadline: the next round tries again.
        if (!isW3aError(e, 'CAMPAIGN_PENDING')) p.log(`campaign ${c.id}: ${(e as Error).message.split('\n')[0]}`)
      }
    }
  }
  const tick = () => (running ??= round().finally(() => (running = undefined)))
  const timer = setInterval(() => void tick().catch((e) => p.log(`campaign round failed: ${(e as Error).message.split('\n')[0]}`)), p.pollMs ?? 1_000)

  return {
    async ensureOpen(id) {
      if (opened.has(String(id))) return
      const c = await getCampaign(p.publicClient, { campaigns: p.campaigns, campaignId: id }).catch(() => {
        throw new W3aError('CAMPAIGN_NOT_FOUND', `campaign ${id} does not exist on this network`)
      })
      if (c.aggregator.toLowerCase() !== p.self.toLowerCase()) throw new W3aError('CAMPAIGN_NOT_FOUND', `campaign ${id} is aggregated by ${c.aggregator}, not this worker`)
      if (c.status !== 'open') throw new W3aError('CAMPAIGN_CLOSED', `campaign ${id} is ${c.status}`)
      await open(c)
    },
    result(id) {
      const f = fileOf(id)
      return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as CampaignResult) : undefined
    },
    tick,
    async stop() {
      clearInterval(timer)
      await running?.catch(() => {})
    },
  }
}
