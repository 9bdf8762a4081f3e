import { readFileSync } from 'node:fs'
import { formatUnits } from 'viem'
import { W3aError } from '../../core/errors.js'
import { CAMPAIGN_STATUSES, type Campaign, type CampaignStatus } from '../../chain/index.js'
import { claimCampaignReward, createCampaign, getCampaign, getCampaignResult, getTokenInfo, listCampaigns } from '../../sdk/index.js'
import { ACCOUNT_OPTION, GATEWAY_OPTION, requireArg, requireString, type Command } from '../command.js'
import { clientFromOptions } from '../client-from-options.js'
import { table } from '../output.js'
import { addressOption } from './market.js'

const iso = (unix: bigint | number) => new Date(Number(unix) * 1000).toISOString()

export function campaignIdArg(raw: string): bigint {
  if (!/^\d{1,20}$/.test(raw)) throw new W3aError('INVALID_ARGUMENT', `"${raw}" is not a campaign id (a number)`, { details: ['List ids with `w3a campaign ls`.'] })
  return BigInt(raw)
}

function intOption(raw: string | boolean | undefined, name: string, fallback?: number): number {
  if (raw === undefined && fallback !== undefined) return fallback
  if (typeof raw !== 'string' || !/^\d+$/.test(raw)) throw new W3aError('INVALID_ARGUMENT', `--${name} must be a whole number`)
  return Number(raw)
}

/** "600" (seconds from now), "10m", "2h", "1d", or an ISO 8601 time → unix seconds. */
export function deadlineOption(raw: string): number {
  const rel = /^(\d+)([smhd]?)$/.exec(raw)
  if (rel) return Math.floor(Date.now() / 1000) + Number(rel[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 } as Record<string, number>)[rel[2]!]!
  const t = Date.parse(raw)
  if (Number.isNaN(t)) throw new W3aError('INVALID_ARGUMENT', `--deadline "${raw}" is neither a duration (600, 10m, 2h, 1d) nor an ISO 8601 time`)
  return Math.floor(t / 1000)
}

function campaignLines(c: Campaign, symbol: string): string {
  return [
    `campaign ${c.id}  ${c.status}`,
    `  purpose      ${c.purpose}`,
    `  answer type  ${c.output}`,
    `  function     ${c.functionHash} (source ${c.functionCid})`,
    `  reward       ${formatUnits(c.rewardPerAnswer, 18)} ${symbol} per counted answer`,
    `  respondents  min ${c.minRespondents}, max ${c.maxRespondents}${c.status === 'open' ? '' : `, counted ${c.counted}`}`,
    `  privacy      k ${c.k}, ε ${Number(c.epsilonMicros) / 1e6}`,
    `  deadline     ${iso(c.deadline)}`,
    `  analyst      ${c.analyst}`,
    `  aggregator   ${c.aggregator}`,
    ...(c.status === 'released' ? [`  claims       ${c.claims} of ${c.counted}`] : []),
  ].join('\n')
}

export const campaignCreateCommand: Command = {
  path: ['campaign', 'create'],
  summary: 'Post a federated campaign: a per-unit function answered on respondents\' devices, rewards escrowed',
  options: {
    function: { type: 'string', placeholder: 'FILE', description: 'JavaScript file: one expression, a function of the device\'s rows, e.g. (rows) => rows[0].sex' },
    output: { type: 'string', placeholder: 'TYPE', description: 'declared answer type: category:A,B,… | number:LO:HI | vector:N:LO:HI' },
    purpose: { type: 'string', placeholder: 'TEXT', description: 'what the answers are for (respondents\' consent rules match it)' },
    reward: { type: 'string', placeholder: 'TOKENS', description: 'tokens per counted answer, e.g. 0.5' },
    min: { type: 'string', placeholder: 'N', description: 'minimum respondents: below it nothing is released and you are refunded' },
    max: { type: 'string', placeholder: 'N', description: 'maximum respondents (max × reward is escrowed; unused escrow comes back)' },
    k: { type: 'string', placeholder: 'K', description: 'smallest number of answers a released figure aggregates (default 10, ≤ --min)' },
    epsilon: { type: 'string', placeholder: 'ε', description: 'ε of the one release (default 1)' },
    deadline: { type: 'string', placeholder: 'WHEN', description: 'until when answers are taken: 600, 10m, 2h, 1d from now, or an ISO time' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  help: 'Example: w3a campaign create --function sex.js --output category:male,female --purpose "demographics" --reward 0.1 --min 100 --max 500 --deadline 1d --account 2',
  async run({ values, out }) {
    const file = requireString(values, 'function', this)
    let source: string
    try {
      source = readFileSync(file, 'utf8')
    } catch (cause) {
      throw new W3aError('INVALID_ARGUMENT', `cannot read --function ${file}`, { cause })
    }
    const client = await clientFromOptions(values, { needsAccount: true })
    out.progress('storing the function and posting the campaign...')
    const epsilon = Number(values['epsilon'] ?? '1')
    const r = await createCampaign(client, {
      source,
      output: requireString(values, 'output', this),
      purpose: requireString(values, 'purpose', this),
      reward: requireString(values, 'reward', this),
      minRespondents: intOption(values['min'], 'min'),
      maxRespondents: intOption(values['max'], 'max'),
      k: intOption(values['k'], 'k', 10),
      epsilon,
      deadline: deadlineOption(requireString(values, 'deadline', this)),
    })
    const token = await getTokenInfo(client)
    out.result(r, [`campaign ${r.id} posted`, `  aggregator  ${r.aggregator}`, `  function    ${r.functionHash} (${r.functionCid})`, `  escrow      ${formatUnits(r.escrow, 18)} ${token.symbol}`, `  tx          ${r.hash}`].join('\n'))
  },
}

export const campaignLsCommand: Command = {
  path: ['campaign', 'ls'],
  summary: 'List campaigns (status, purpose, answer type, reward, deadline)',
  options: {
    status: { type: 'string', placeholder: 'S', description: `only campaigns in this status: ${CAMPAIGN_STATUSES.slice(1).join(', ')}` },
    mine: { type: 'boolean', description: 'only campaigns posted by the account given by --account / W3A_PRIVATE_KEY' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  async run({ values, out }) {
    const status = values['status']
    if (status !== undefined && !(CAMPAIGN_STATUSES as readonly unknown[]).includes(status)) throw new W3aError('INVALID_ARGUMENT', `--status must be one of ${CAMPAIGN_STATUSES.slice(1).join(', ')}`)
    const client = await clientFromOptions(values, { needsAccount: values['mine'] === true && '--mine (your own campaigns)' })
    const [list, token] = await Promise.all([
      listCampaigns(client, { ...(status ? { status: status as CampaignStatus } : {}), ...(values['mine'] === true ? { analyst: client.account!.address } : {}) }),
      getTokenInfo(client),
    ])
    out.result(
      { campaigns: list },
      table(
        list.map((c) => ({ id: c.id, status: c.status, purpose: c.purpose, answer: c.output, reward: `${formatUnits(c.rewardPerAnswer, 18)} ${token.symbol}`, min: c.minRespondents, deadline: iso(c.deadline) })),
        ['id', 'status', 'purpose', 'answer', 'reward', 'min', 'deadline'],
      ),
    )
  },
}

export const campaignShowCommand: Command = {
  path: ['campaign', 'show'],
  summary: 'Show one campaign\'s terms and status',
  args: [{ name: 'ID', description: 'campaign id' }],
  options: { ...GATEWAY_OPTION },
  async run({ values, positionals, out }) {
    const id = campaignIdArg(requireArg(positionals, 0, this))
    const client = await clientFromOptions(values, { needsAccount: false })
    const [c, token] = await Promise.all([getCampaign(client, { id }), getTokenInfo(client)])
    out.result(c, campaignLines(c, token.symbol))
  },
}

export const campaignResultCommand: Command = {
  path: ['campaign', 'result'],
  summary: 'Fetch a campaign\'s released aggregate and verify it against the chain',
  args: [{ name: 'ID', description: 'campaign id' }],
  options: { ...GATEWAY_OPTION },
  help: 'Checked here: the aggregator\'s signature, the output\'s hash and the payout list\'s Merkle root, against what the contract holds.',
  async run({ values, positionals, out }) {
    const id = campaignIdArg(requireArg(positionals, 0, this))
    const client = await clientFromOptions(values, { needsAccount: false })
    const { result } = await getCampaignResult(client, { id })
    const text = result.released && result.output
      ? [
          `campaign ${id}: released over ${result.counted} answers (verified: aggregator ${result.aggregator})`,
          table(result.output.rows.map((r) => Object.fromEntries(result.output!.columns.map((c, i) => [c.name, r[i]]))), result.output.columns.map((c) => c.name)),
          `privacy: ε ${result.output.privacy.epsilon}, k ${result.output.privacy.k}, ${result.output.privacy.mechanism} noise (scale ${Object.entries(result.output.privacy.noiseScale).map(([k, v]) => `${k} ${v}`).join(', ')})`,
        ].join('\n')
      : `campaign ${id}: below its minimum (${result.counted} answers): nothing released, the analyst was refunded`
    out.result(result, text)
  },
}

export const campaignClaimCommand: Command = {
  path: ['campaign', 'claim'],
  summary: 'Pay a counted respondent\'s reward to their payout address',
  args: [{ name: 'ID', description: 'campaign id' }],
  options: {
    payout: { type: 'string', placeholder: 'ADDRESS', description: 'the payout address the answer named (default: the --account address)' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  async run({ values, positionals, out }) {
    const id = campaignIdArg(requireArg(positionals, 0, this))
    const payout = addressOption(values['payout'], '--payout')
    const client = await clientFromOptions(values, { needsAccount: true })
    const r = await claimCampaignReward(client, { id, ...(payout ? { payout } : {}) })
    out.result(r, `paid ${formatUnits(r.amount, 18)} to ${r.payout} for campaign ${id}\n  tx  ${r.hash}`)
  },
}
