import type { Address, Hex } from 'viem'
import { readJsonFile } from '../read-json-file.js'
import { W3aError } from '../../core/errors.js'
import { toJsonText } from '../../core/json-text.js'
import { DEFAULT_POLICY, parsePolicy, type AnalysisKind, type CustodyPolicyInput } from '../../custody/index.js'
import { grantAccess, revokeAccess, deleteDataset, setDatasetPolicy, readDatasetAccess, getDatasetInfo, type DeleteDatasetStorage } from '../../sdk/index.js'
import { ACCOUNT_OPTION, GATEWAY_OPTION, requireArg, type Command } from '../command.js'
import { clientFromOptions } from '../client-from-options.js'
import { confirm } from '../confirm.js'
import { datasetIdArg } from './dataset.js'

export function addressArg(raw: string, what: string): Address {
  if (!/^0x[0-9a-fA-F]{40}$/.test(raw)) throw new W3aError('INVALID_ARGUMENT', `${what} must be an EVM address (0x + 40 hex digits), got "${raw}"`)
  return raw as Address
}

function unixSeconds(raw: string): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw) / 1000
  if (!Number.isFinite(n) || n <= Date.now() / 1000) throw new W3aError('INVALID_ARGUMENT', `--expires must be a future date (ISO 8601) or unix seconds, got "${raw}"`)
  return Math.floor(n)
}

function positiveInt(raw: string, flag: string): number {
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1) throw new W3aError('INVALID_ARGUMENT', `${flag} must be a positive integer, got "${raw}"`)
  return n
}

const receiptText = (o: { index: bigint; keeper: string; receipt: { status: string; stateRoot: string } }) =>
  `  inbox entry ${o.index}, receipt signed by keeper ${o.keeper}\n  state root  ${o.receipt.stateRoot}`

export const datasetGrantCommand: Command = {
  path: ['dataset', 'grant'],
  summary: 'Allow an analyst to use a dataset (enforced by the custody contract inside keepers)',
  args: [{ name: 'ID', description: 'dataset id' }, { name: 'ADDRESS', description: "the analyst's address" }],
  options: {
    expires: { type: 'string', placeholder: 'DATE', description: 'grant ends at this date (ISO 8601 or unix seconds); default never' },
    uses: { type: 'string', placeholder: 'N', description: 'number of analyses allowed; default unlimited' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  async run({ values, positionals, out }) {
    const id = datasetIdArg(requireArg(positionals, 0, this))
    const grantee = addressArg(requireArg(positionals, 1, this), 'ADDRESS')
    const expiresAt = typeof values['expires'] === 'string' ? unixSeconds(values['expires']) : undefined
    const uses = typeof values['uses'] === 'string' ? positiveInt(values['uses'], '--uses') : undefined
    const client = await clientFromOptions(values, { needsAccount: true })
    out.progress('sealing the grant to the custody epoch key and posting it...')
    const r = await grantAccess(client, { id, grantee, ...(expiresAt ? { expiresAt } : {}), ...(uses ? { uses } : {}) })
    out.result(r, `granted ${grantee} on ${id}\n${receiptText(r)}`)
  },
}

export const datasetRevokeCommand: Command = {
  path: ['dataset', 'revoke'],
  summary: "Take back an analyst's access to a dataset",
  args: [{ name: 'ID', description: 'dataset id' }, { name: 'ADDRESS', description: "the analyst's address" }],
  options: { ...ACCOUNT_OPTION, ...GATEWAY_OPTION },
  async run({ values, positionals, out }) {
    const id = datasetIdArg(requireArg(positionals, 0, this))
    const grantee = addressArg(requireArg(positionals, 1, this), 'ADDRESS')
    const client = await clientFromOptions(values, { needsAccount: true })
    const r = await revokeAccess(client, { id, grantee })
    out.result(r, `revoked ${grantee} on ${id}\n${receiptText(r)}`)
  },
}

const storageText = (s: DeleteDatasetStorage) =>
  s.nodes.map((n) =>
    'error' in n
      ? `  storage: node ${n.node} did not drop the blocks (${n.error}); run the delete again to retry`
      : `  storage: dropped ${n.blocks} block(s) (${n.bytes} bytes) on 1 node (${n.node})${n.kept ? `; kept ${n.kept} shared with another dataset` : ''}`,
  )

const ordersText = (ended: { orderId: bigint; refund: { formatted: string; symbol: string } }[]) =>
  ended.map((o) => `  storage order ${o.orderId} ended: ${o.refund.formatted} ${o.refund.symbol} of escrow back`)

export const datasetDeleteCommand: Command = {
  path: ['dataset', 'delete'],
  summary: 'Delete a dataset for good: keepers drop its key (crypto-shredding), the registry marks it deleted, storage drops its blocks',
  args: [{ name: 'ID', description: 'dataset id' }],
  options: { yes: { type: 'boolean', description: 'do not ask for confirmation (needed when stdin is not a terminal)' }, ...ACCOUNT_OPTION, ...GATEWAY_OPTION },
  help: [
    'Asks "Delete dataset NAME (ID)? This cannot be undone [y/N]" on a terminal; --yes skips the question, and',
    'without a terminal --yes is required (CONFIRMATION_REQUIRED otherwise). Prints the keeper-signed receipt and',
    'what the storage node dropped (manifest with your wrapped key, and segment blocks). Its active storage orders',
    'are ended: the escrow of the eras left comes back, and the assigned storage nodes drop its blocks.',
    'A dataset already deleted sends no transaction: exit 0 with "already deleted" ({"alreadyDeleted": true} with --json).',
  ].join('\n'),
  async run({ values, positionals, out }) {
    const id = datasetIdArg(requireArg(positionals, 0, this))
    const client = await clientFromOptions(values, { needsAccount: true })
    const { dataset } = await getDatasetInfo(client, { id })
    if (dataset.status !== 'deleted') {
      const yes = await confirm({ question: `Delete dataset ${dataset.name} (${id})? This cannot be undone [y/N]`, yes: values['yes'] === true })
      if (!yes) {
        out.result({ id, deleted: false }, `not deleted: ${id} is unchanged`)
        return
      }
    }
    const r = await deleteDataset(client, { id })
    if (r.alreadyDeleted) {
      out.result(r, [`dataset ${id} is already deleted: no deletion sent`, ...storageText(r.storage), ...ordersText(r.storageOrders)].join('\n'))
      return
    }
    const after = r.receipt.unrecoverableAfterEpoch
    out.result(
      r,
      [
        `deleted ${id}`,
        receiptText(r),
        after === undefined
          ? '  the keepers had already dropped the key (an earlier delete); the registry now marks it deleted'
          : `  the key's on-chain ciphertext can no longer be opened by anyone once the keepers are past epoch ${after}`,
        ...storageText(r.storage),
        ...ordersText(r.storageOrders),
        `  receipt (keep it): ${toJsonText(r.receipt)}`,
      ].join('\n'),
    )
  },
}

export const datasetPolicyCommand: Command = {
  path: ['dataset', 'policy'],
  summary: 'Set the confidential policy of a dataset (k threshold, privacy budget, analyses, buyers, algorithms)',
  args: [{ name: 'ID', description: 'dataset id' }],
  options: {
    k: { type: 'string', placeholder: 'N', description: `minimum distinct privacy units per released row (default ${DEFAULT_POLICY.k})` },
    'epsilon-budget': { type: 'string', placeholder: 'E', description: `total differential-privacy budget (default ${DEFAULT_POLICY.epsilonBudget})` },
    analyses: { type: 'string', placeholder: 'LIST', description: 'allowed analyses: sql,function (default sql)' },
    'buyer-allow': { type: 'string', placeholder: 'ADDRS', description: 'only these buyers (comma-separated)' },
    'buyer-deny': { type: 'string', placeholder: 'ADDRS', description: 'never these buyers (comma-separated)' },
    'allow-algorithm': { type: 'string', placeholder: 'HASHES', description: 'code hashes allowed to return raw output (comma-separated); off by default' },
    'function-allow': { type: 'string', placeholder: 'HASHES', description: 'only these per-unit functions, by function hash (`w3a query --function FILE --hash`); default any' },
    'function-deny': { type: 'string', placeholder: 'HASHES', description: 'never these per-unit functions, by function hash' },
    identifiers: { type: 'string', placeholder: 'COLS', description: 'identifier columns (never output)' },
    dimensions: { type: 'string', placeholder: 'COLS', description: 'dimension columns (group/filter)' },
    measures: { type: 'string', placeholder: 'COL:LO:HI,…', description: 'measure columns (aggregated) with their public per-row bounds, e.g. amount:0:1000 (bounds may be left out only with --allow-exact)' },
    'allow-min-max': { type: 'boolean', description: 'allow min/max aggregates' },
    'allow-exact': { type: 'boolean', description: 'also allow exact answers (no noise, k threshold only), a few per analyst' },
    'exact-queries': { type: 'string', placeholder: 'N', description: `exact queries per analyst with --allow-exact (default ${DEFAULT_POLICY.exactQueries})` },
    epsilon: { type: 'string', placeholder: 'E', description: `default ε per query (default ${DEFAULT_POLICY.defaultEpsilon})` },
    'min-epsilon': { type: 'string', placeholder: 'E', description: `least ε a query may spend (default ${DEFAULT_POLICY.minEpsilon})` },
    delta: { type: 'string', placeholder: 'D', description: `δ of every DP release (default ${DEFAULT_POLICY.delta})` },
    'analyst-epsilon-budget': { type: 'string', placeholder: 'E', description: `each analyst's share of the ε budget (default ${DEFAULT_POLICY.analystEpsilonBudget})` },
    'open-access': { type: 'boolean', description: 'any analyst holding a market credit may query, without a grant (buyer lists still apply)' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  help: [
    'Replaces the whole policy: what is not given takes its default. Columns not declared are identifiers',
    '(never output), so a new dataset releases nothing but counts of privacy units until you declare',
    'dimensions and measures. Every query is differentially private unless you add --allow-exact; each',
    'measure needs public bounds (a row outside them is clamped). Names the dataset lacks are refused.',
    'Example: w3a dataset policy 0x… --dimensions city,device --measures amount:0:1000 --k 10 --open-access --account 0',
  ].join('\n'),
  async run({ values, positionals, out }) {
    const id = datasetIdArg(requireArg(positionals, 0, this))
    const list = (name: string) => (typeof values[name] === 'string' ? (values[name] as string).split(',').map((s) => s.trim()).filter(Boolean) : undefined)
    const measures = (list('measures') ?? []).map(measureArg)
    const input: CustodyPolicyInput = {
      ...(values['k'] !== undefined ? { k: positiveInt(values['k'] as string, '--k') } : {}),
      ...(values['epsilon-budget'] !== undefined ? { epsilonBudget: Number(values['epsilon-budget']) } : {}),
      ...(list('analyses') ? { analyses: list('analyses') as AnalysisKind[] } : {}),
      ...(list('buyer-allow') ? { buyerAllow: list('buyer-allow')!.map((a) => addressArg(a, '--buyer-allow')) } : {}),
      ...(list('buyer-deny') ? { buyerDeny: list('buyer-deny')!.map((a) => addressArg(a, '--buyer-deny')) } : {}),
      ...(list('allow-algorithm') ? { allowedAlgorithms: list('allow-algorithm') as Hex[] } : {}),
      ...(list('function-allow') ? { functionAllow: list('function-allow') as Hex[] } : {}),
      ...(list('function-deny') ? { functionDeny: list('function-deny') as Hex[] } : {}),
      ...(list('identifiers') || list('dimensions') || list('measures')
        ? { columns: { identifiers: list('identifiers') ?? [], dimensions: list('dimensions') ?? [], measures: measures.map((m) => m.name) } }
        : {}),
      bounds: Object.fromEntries(measures.flatMap((m) => (m.bounds ? [[m.name, m.bounds]] : []))),
      ...(values['allow-min-max'] === true ? { allowMinMax: true } : {}),
      ...(values['allow-exact'] === true ? { allowExact: true } : {}),
      ...(values['exact-queries'] !== undefined ? { exactQueries: Number(values['exact-queries']) } : {}),
      ...(values['epsilon'] !== undefined ? { defaultEpsilon: Number(values['epsilon']) } : {}),
      ...(values['min-epsilon'] !== undefined ? { minEpsilon: Number(values['min-epsilon']) } : {}),
      ...(values['delta'] !== undefined ? { delta: Number(values['delta']) } : {}),
      ...(values['analyst-epsilon-budget'] !== undefined ? { analystEpsilonBudget: Number(values['analyst-epsilon-budget']) } : {}),
      ...(values['open-access'] === true ? { openAccess: true } : {}),
    }
    const policy = parsePolicy(input)
    const client = await clientFromOptions(values, { needsAccount: true })
    const r = await setDatasetPolicy(client, { id, policy })
    const terms = policy.allowExact ? `, exact answers allowed (${policy.exactQueries} per analyst)` : ', DP only'
    out.result({ ...r, policy }, `policy of ${id} set: k=${policy.k}, ε budget=${policy.epsilonBudget} (${policy.analystEpsilonBudget} per analyst), ε per query ${policy.defaultEpsilon} (min ${policy.minEpsilon}), δ ${policy.delta}${terms}, analyses=${policy.analyses.join(',')}\n${receiptText(r)}`)
  },
}

const NUM = '-?\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?'

/** `amount:0:1000` → a measure with public bounds; a bare `amount` has none (exact-only datasets). */
function measureArg(raw: string): { name: string; bounds?: [number, number] } {
  const m = new RegExp(`^([^:\\s]+)(?::(${NUM}):(${NUM}))?$`).exec(raw)
  if (!m) throw new W3aError('INVALID_ARGUMENT', `--measures: "${raw}" is not COLUMN:LOWER:UPPER`, { details: ['Example: --measures amount:0:1000,age:18:99'] })
  return m[2] === undefined ? { name: m[1]! } : { name: m[1]!, bounds: [Number(m[2]), Number(m[3])] }
}

export const datasetAccessCommand: Command = {
  path: ['dataset', 'access'],
  summary: "The owner's confidential view of a dataset: grants, policy, budget spent (read from a keeper, end-to-end encrypted)",
  args: [{ name: 'ID', description: 'dataset id' }],
  options: {
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
    collateral: { type: 'string', placeholder: 'FILE', description: "DCAP collateral JSON to verify a tdx/sgx keeper's quote (its key is checked before sealing)" },
  },
  async run({ values, positionals, out }) {
    const id = datasetIdArg(requireArg(positionals, 0, this))
    const client = await clientFromOptions(values, { needsAccount: true })
    const collateral = values['collateral']
    const v = await readDatasetAccess(client, { id, ...(typeof collateral === 'string' ? { collateral: readJsonFile(collateral) } : {}) })
    const lines = [
      `dataset ${id} (answer signed by keeper ${v.keeper})`,
      `  status    ${v.deleted ? 'deleted' : 'live'}`,
      `  policy    k=${v.policy.k}, ε budget=${v.policy.epsilonBudget}, analyses=${v.policy.analyses.join(',')}`,
      `  budget    ε spent ${v.budget.spent}`,
      '  grants:',
      ...(v.grants.length === 0 ? ['    (none)'] : v.grants.map((g) => `    ${g.grantee}  expires ${g.expiresAt ? new Date(Number(g.expiresAt) * 1000).toISOString() : 'never'}  uses left ${g.usesLeft ?? 'unlimited'}`)),
    ]
    out.result(v, lines.join('\n'))
  },
}
