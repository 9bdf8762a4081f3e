import { isAddressEqual, parseUnits, type Address, type Hex } from 'viem'
import { W3aError, isW3aError } from '../../core/errors.js'
import {
  buyCredits,
  getCredits,
  getTokenInfo,
  listMarket,
  listOnMarket,
  readAnalystBudget,
  refundCredits,
  setBuyerAccess,
  type GetCreditsReturnType,
  type MarketListing,
  type ReadAnalystBudgetReturnType,
  type TokenAmount,
  type W3aClient,
} from '../../sdk/index.js'
import { ACCOUNT_OPTION, GATEWAY_OPTION, requireArg, requireString, usageLine, type Command } from '../command.js'
import { clientFromOptions } from '../client-from-options.js'
import { table } from '../output.js'
import { addressArg } from './custody.js'
import { datasetIdArg } from './dataset.js'

export const amountText = (a: TokenAmount) => `${a.formatted} ${a.symbol}`

export function addressOption(raw: string | boolean | undefined, flag: string): Address | undefined {
  return raw === undefined ? undefined : addressArg(String(raw), flag)
}

/** A token amount flag (`2`, `0.5`) in base units, checked against the token's decimals. */
export async function tokenOption(client: W3aClient, raw: string | boolean | undefined, flag: string): Promise<bigint | undefined> {
  if (raw === undefined) return undefined
  const { decimals } = await getTokenInfo(client)
  if (typeof raw !== 'string' || !new RegExp(`^\\d+(\\.\\d{1,${decimals}})?$`).test(raw)) {
    throw new W3aError('INVALID_ARGUMENT', `${flag} must be a token amount like 2 or 0.5, got "${String(raw)}"`)
  }
  return parseUnits(raw, decimals)
}

export const marketLsCommand: Command = {
  path: ['market', 'ls'],
  summary: 'List datasets on the market: owner, price per query, status, public policy summary, schema',
  options: {
    owner: { type: 'string', placeholder: 'ADDRESS', description: 'only datasets of this owner' },
    mine: { type: 'boolean', description: 'only datasets of the account given by --account / W3A_PRIVATE_KEY' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  help: [
    'Only listed datasets (active or paused) are shown; with --mine, your unlisted ones too (a new upload is',
    'unlisted until `w3a market list`). Deleted datasets are never shown. `w3a dataset show ID` gives one dataset in full.',
  ].join('\n'),
  async run({ values, out }) {
    const mine = values['mine'] === true
    const client = await clientFromOptions(values, { needsAccount: mine && '--mine (your own datasets)' })
    const owner = mine ? client.account!.address : addressOption(values['owner'], '--owner')
    const listings = await listMarket(client, { ...(owner ? { owner } : {}), ...(mine ? { status: ['active', 'paused', 'unlisted'] as const } : {}) })
    out.result({ datasets: listings }, marketLsText(listings))
  },
}

/** The `market ls` table: who owns each dataset is part of what an analyst weighs. */
export function marketLsText(listings: readonly MarketListing[]): string {
  return table(
    listings.map((d) => ({
      ...d,
      price: amountText(d.price),
      rows: d.rows ?? '?',
      summary: d.policySummary.length > 48 ? `${d.policySummary.slice(0, 47)}…` : d.policySummary || '-',
    })),
    ['id', 'name', 'owner', 'status', 'price', 'rows', 'summary'],
  )
}

export const marketListCommand: Command = {
  path: ['market', 'list'],
  summary: 'Owner: put a dataset on the market (price per query, public policy summary), or change them',
  args: [{ name: 'ID', description: 'dataset id' }],
  options: {
    price: { type: 'string', placeholder: 'TOKENS', description: 'price of one usage credit (one query) in tokens, e.g. 2 or 0.5' },
    summary: { type: 'string', placeholder: 'TEXT', description: 'public summary of the policy (≤ 1024 bytes); the enforced policy is set with `w3a dataset policy`' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  help: [
    'A new upload is unlisted: nothing sells until this command lists it. Listing needs --price (0 must be said)',
    'and a summary, and the custody policy set first with `w3a dataset policy` (checked with a keeper).',
    'Later calls change the price or the summary only.',
    'Example: w3a market list 0x… --price 2 --summary "k=10; ε budget 5; dimensions: city" --account 0',
  ].join('\n'),
  async run({ values, positionals, out }) {
    const id = datasetIdArg(requireArg(positionals, 0, this))
    const summary = typeof values['summary'] === 'string' ? values['summary'] : undefined
    if (values['price'] === undefined && summary === undefined) {
      throw new W3aError('INVALID_ARGUMENT', 'give --price, --summary, or both', { details: [`Usage: ${usageLine(this)}`] })
    }
    const client = await clientFromOptions(values, { needsAccount: true })
    const price = await tokenOption(client, values['price'], '--price')
    out.progress('updating the market listing...')
    const r = await listOnMarket(client, { id, ...(price === undefined ? {} : { price }), ...(summary === undefined ? {} : { summary }) })
    const lines = [`listed ${id}`, `  price    ${amountText(r.price)} per query`, `  summary  ${r.policySummary || '(none)'}`, `  status   ${r.status}`]
    if (r.priceTx) lines.push(`  price tx ${r.priceTx}`)
    if (r.summaryTx) lines.push(`  summary tx ${r.summaryTx}`)
    if (r.listTx) lines.push(`  listed tx ${r.listTx}`)
    if (r.status !== 'active') lines.push(`  the dataset is ${r.status}: analysts can buy credits only while it is active`)
    out.result(r, lines.join('\n'))
  },
}

function creditsArg(raw: string): bigint {
  if (!/^[1-9]\d{0,18}$/.test(raw)) throw new W3aError('INVALID_ARGUMENT', `--credits must be a positive integer, got "${raw}"`)
  return BigInt(raw)
}

export const marketBuyCommand: Command = {
  path: ['market', 'buy'],
  summary: 'Buy usage credits of a dataset (one credit = one query); the tokens go into escrow',
  args: [{ name: 'ID', description: 'dataset id' }],
  options: {
    credits: { type: 'string', placeholder: 'N', description: 'number of credits to buy' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  help: [
    'Only a buyer the listing admits may buy (`w3a market access`): nobody pays for queries they may not run.',
    "Credits never expire. A query that fails by the worker's or the network's fault, or times out, gives its credit back;",
    'one refused for its own sake (refused or malformed SQL, budget or access refused) uses it up (docs/analyst.md).',
    'Unused credits of a dataset no longer on sale to you come back with `w3a market refund ID`.',
    'Example: w3a market buy 0x… --credits 5 --account 2',
  ].join('\n'),
  async run({ values, positionals, out }) {
    const id = datasetIdArg(requireArg(positionals, 0, this))
    const credits = creditsArg(requireString(values, 'credits', this))
    const client = await clientFromOptions(values, { needsAccount: true })
    out.progress(`buying ${credits} credit(s)...`)
    const r = await buyCredits(client, { id, credits })
    out.result(
      r,
      [`bought ${credits} credit(s) of ${id} for ${amountText(r.cost)}`, `  credits held  ${r.credits}`, `  balance       ${amountText(r.balance)}`, `  tx            ${r.hash}`].join('\n'),
    )
  },
}

export const marketRefundCommand: Command = {
  path: ['market', 'refund'],
  summary: 'Take back the escrow of your unused credits on a dataset that is no longer on sale to you (paused, deleted, or you are no longer admitted)',
  args: [{ name: 'ID', description: 'dataset id' }],
  options: { ...ACCOUNT_OPTION, ...GATEWAY_OPTION },
  help: 'Credits held by open jobs stay until those jobs end; run it again then.\nExample: w3a market refund 0x… --account 2',
  async run({ values, positionals, out }) {
    const id = datasetIdArg(requireArg(positionals, 0, this))
    const client = await clientFromOptions(values, { needsAccount: true })
    out.progress('refunding unused credits...')
    const r = await refundCredits(client, { id })
    const lines = [`refunded ${r.credits} credit(s) of ${id}: ${amountText(r.amount)} back from escrow`, `  tx  ${r.hash}`]
    if (r.reserved > 0n) lines.push(`  ${r.reserved} credit(s) are held by open jobs; refund them once those jobs end`)
    out.result(r, lines.join('\n'))
  },
}

export const marketAccessCommand: Command = {
  path: ['market', 'access'],
  summary: 'Owner: who may buy credits of a dataset (open to anyone, or admitted buyers only); keepers let every admitted buyer query',
  args: [{ name: 'ID', description: 'dataset id' }],
  options: {
    open: { type: 'boolean', description: 'anyone may buy (and query, within the ε budgets)' },
    'admitted-only': { type: 'boolean', description: 'only buyers admitted one by one (the default of a new listing)' },
    admit: { type: 'string', placeholder: 'ADDRESS[,ADDRESS…]', description: 'admit these buyers' },
    remove: { type: 'string', placeholder: 'ADDRESS[,ADDRESS…]', description: 'no longer admit these buyers (they may refund unused credits)' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  help: [
    'The market sells credits only to buyers the listing admits, and keepers treat an admitted buyer as having',
    'access (no grant needed; the custody allow/deny lists do not apply to them), so a buyer never pays for nothing.',
    'Example: w3a market access 0x… --open --account 0    or    w3a market access 0x… --admit 0xabc…,0xdef… --account 0',
  ].join('\n'),
  async run({ values, positionals, out }) {
    const id = datasetIdArg(requireArg(positionals, 0, this))
    if (values['open'] === true && values['admitted-only'] === true) throw new W3aError('INVALID_ARGUMENT', 'give --open or --admitted-only, not both')
    const list = (flag: string) => (typeof values[flag] === 'string' ? String(values[flag]).split(',').filter(Boolean).map((a) => addressArg(a.trim(), `--${flag}`)) : [])
    const open = values['open'] === true ? true : values['admitted-only'] === true ? false : undefined
    const [admit, remove] = [list('admit'), list('remove')]
    if (open === undefined && admit.length === 0 && remove.length === 0) {
      throw new W3aError('INVALID_ARGUMENT', 'give --open, --admitted-only, --admit or --remove', { details: [`Usage: ${usageLine(this)}`] })
    }
    const client = await clientFromOptions(values, { needsAccount: true })
    out.progress('updating who may buy...')
    const r = await setBuyerAccess(client, { id, ...(open === undefined ? {} : { open }), admit, remove })
    const lines = [`${id}: ${r.open ? 'open to every buyer' : 'admitted buyers only'}`]
    for (const a of admit) lines.push(`  admitted  ${a}`)
    for (const a of remove) lines.push(`  removed   ${a}`)
    out.result({ ...r, admitted: admit, removed: remove }, lines.join('\n'))
  },
}

export const marketCreditsCommand: Command = {
  path: ['market', 'credits'],
  summary: "Show an analyst's usage credits on a dataset and, for your own account, the privacy budget (ε) you have left",
  args: [{ name: 'ID', description: 'dataset id' }],
  options: {
    analyst: { type: 'string', placeholder: 'ADDRESS', description: 'whose credits (default: the account given by --account / W3A_PRIVATE_KEY); ε is shown only for your own account' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  help: 'Credits are read from the chain; ε from a keeper, which answers only the analyst themselves (signed, encrypted request).\nExample: w3a market credits 0x… --account 2',
  async run({ values, positionals, out }) {
    const id = datasetIdArg(requireArg(positionals, 0, this))
    const analyst = addressOption(values['analyst'], '--analyst')
    const client = await clientFromOptions(values, { needsAccount: analyst === undefined })
    const r = await getCredits(client, { id, ...(analyst ? { analyst } : {}) })
    const privacy = await privacyOf(client, id, r.analyst)
    out.result({ ...r, privacy }, creditsText(r, privacy))
  },
}

/** The analyst's ε on the dataset, or why it is not shown: the keeper answers the analyst only. */
export type CreditsPrivacy = (ReadAnalystBudgetReturnType & { available: true }) | { available: false; reason: string }

async function privacyOf(client: W3aClient, id: Hex, analyst: Address): Promise<CreditsPrivacy> {
  if (!client.account || !isAddressEqual(client.account.address, analyst)) {
    return { available: false, reason: 'only the analyst can read their ε left: run this with their --account N or W3A_PRIVATE_KEY' }
  }
  try {
    return { available: true, ...(await readAnalystBudget(client, { id })) }
  } catch (e) {
    if (isW3aError(e, 'ACCESS_DENIED')) {
      return { available: false, reason: 'no access to the data yet: the owner has not granted you access and the policy is not open to credit holders' }
    }
    if (isW3aError(e, 'KEEPER_UNAVAILABLE')) return { available: false, reason: 'no keeper answered; try again later' }
    throw e
  }
}

const eps = (n: number) => String(Number(n.toFixed(6)))

export function creditsText(r: GetCreditsReturnType, privacy: CreditsPrivacy): string {
  const lines = [`${r.analyst} on ${r.id}`, `  credits   ${r.credits}`, `  reserved  ${r.reserved} (by open jobs)`, `  escrow    ${amountText(r.escrow)}`]
  if (!privacy.available) return [...lines, `  ε left    ? (${privacy.reason})`].join('\n')
  const share = privacy.analystEpsilonBudget === null ? 'no per-analyst cap' : `your share ${eps(privacy.analystEpsilonBudget)}`
  lines.push(`  ε left    ${eps(privacy.epsilonLeft)}  (spent ${eps(privacy.epsilonSpent)}; ${share}; dataset ε left ${eps(privacy.datasetEpsilonLeft)})`)
  const t = privacy.queryTerms
  const exact = t.exactQueriesLeft === null ? 'no exact answers' : `${t.exactQueriesLeft} exact answer(s) left`
  const bounds = Object.entries(t.bounds).map(([m, [lo, hi]]) => `${m} ${lo}..${hi}`).join(', ')
  lines.push(`  per query ε ${eps(t.defaultEpsilon)} by default (at least ${eps(t.minEpsilon)}), δ ${t.delta}; ${exact}${bounds ? `; bounds ${bounds}` : ''}`)
  if (privacy.grant) {
    const uses = privacy.grant.usesLeft === null ? 'unlimited uses' : `${privacy.grant.usesLeft} use(s) left`
    const until = privacy.grant.expiresAt === 0n ? 'no expiry' : `expires ${new Date(Number(privacy.grant.expiresAt) * 1000).toISOString()}`
    lines.push(`  grant     ${uses}, ${until}`)
  }
  return lines.join('\n')
}
