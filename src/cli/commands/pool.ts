import type { Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { contributeToPool, createPool, deleteContribution, getPool, listMyContributions, readDatasetAccess, setPoolConsent, unpinContribution, type ContributionUnpinned } from '../../sdk/index.js'
import { parsePoolSchema } from '../../storage/index.js'
import { ACCOUNT_OPTION, GATEWAY_OPTION, requireArg, requireString, type Command } from '../command.js'
import { clientFromOptions } from '../client-from-options.js'
import { table } from '../output.js'
import { datasetIdArg } from './dataset.js'

/** "a, b" → ['a', 'b']; a purpose list of the CLI. */
function purposes(raw: unknown): string[] | undefined {
  return typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0) : undefined
}

export const poolCreateCommand: Command = {
  path: ['pool', 'create'],
  summary: 'Create a pool (a curator): a dataset many people contribute rows to, each under their own key',
  options: {
    name: { type: 'string', placeholder: 'NAME', description: 'pool name (public)' },
    schema: { type: 'string', placeholder: 'COL:TYPE,…', description: 'the columns every contribution has (BIGINT DOUBLE VARCHAR DATE TIMESTAMP BOOLEAN)' },
    purpose: { type: 'string', placeholder: 'TEXT', description: 'what the pool is for (public); contributors consent to it by default' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  help: [
    'Then set its policy and list it as for a dataset (`w3a dataset policy`, `w3a market list`); the',
    'privacy unit is the contributor (column `contributor`, set by the worker).',
    'Example: w3a pool create --name diaries --schema age:BIGINT,score:DOUBLE --purpose "health research" --account 1',
  ].join('\n'),
  async run({ values, out }) {
    const name = requireString(values, 'name', this)
    const schema = parsePoolSchema(requireString(values, 'schema', this))
    const purpose = requireString(values, 'purpose', this)
    const client = await clientFromOptions(values, { needsAccount: true })
    out.progress('creating the pool...')
    const r = await createPool(client, { name, purpose, schema })
    out.result({ id: r.id, manifestCid: r.manifestCid, tx: r.tx, custodyIndex: r.custody.index.toString() }, `pool ${r.id}\n  descriptor ${r.manifestCid}\n  tx         ${r.tx}`)
  },
}

export const poolContributeCommand: Command = {
  path: ['pool', 'contribute'],
  summary: "Add your rows to a pool, encrypted here under your own key, with your consent",
  args: [
    { name: 'POOL', description: 'the pool id' },
    { name: 'FILE', description: "a .csv/.jsonl/.parquet file with exactly the pool's columns" },
  ],
  options: {
    allow: { type: 'string', placeholder: 'P1,P2', description: "purposes you consent to (default: the pool's own; * = any)" },
    deny: { type: 'string', placeholder: 'P1,P2', description: 'purposes you refuse (wins over --allow)' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  help: 'Example: w3a pool contribute 0x… diary.csv --allow "health research" --deny advertising --account 3',
  async run({ values, positionals, out }) {
    const pool = datasetIdArg(requireArg(positionals, 0, this))
    const file = requireArg(positionals, 1, this)
    const client = await clientFromOptions(values, { needsAccount: true })
    const allow = purposes(values['allow'])
    const deny = purposes(values['deny'])
    const r = await contributeToPool(client, { pool, file, ...(allow ? { allow } : {}), ...(deny ? { deny } : {}), onProgress: (p) => out.progress(`${p.stage} ${p.done}/${p.total}`) })
    out.result({ id: r.id, index: r.index, rows: r.rows, manifestCid: r.manifestCid, custodyIndex: r.custody.index.toString() }, `contribution ${r.id} (${r.rows} rows) to pool ${pool}`)
  },
}

export const poolShowCommand: Command = {
  path: ['pool', 'show'],
  summary: "A pool's public descriptor, and your contributions to it (as custody holds them)",
  args: [{ name: 'POOL', description: 'the pool id' }],
  options: { ...ACCOUNT_OPTION, ...GATEWAY_OPTION },
  async run({ values, positionals, out }) {
    const id = datasetIdArg(requireArg(positionals, 0, this))
    const client = await clientFromOptions(values, { needsAccount: false })
    const pool = await getPool(client, { id })
    const mine = client.account ? await listMyContributions(client, { pool: id }) : []
    const lines = [`pool ${id}: ${pool.name} (${pool.status})`, `  purpose  ${pool.purpose}`, `  schema   ${pool.schema.columns.map((c) => `${c.name} ${c.type}`).join(', ')}`, `  curator  ${pool.curator}`]
    const rows = mine.map((c) => ({ contribution: c.id, allow: c.allow.join(', '), deny: c.deny.join(', '), state: c.deleted ? 'deleted' : c.withdrawn ? 'withdrawn' : 'in use' }))
    if (rows.length > 0) lines.push('', table(rows, ['contribution', 'allow', 'deny', 'state']))
    out.result({ ...pool, contributions: mine }, lines.join('\n'))
  },
}

export const poolConsentCommand: Command = {
  path: ['pool', 'consent'],
  summary: 'Change the purposes a contribution may be used for (from the next job on)',
  args: [{ name: 'CONTRIBUTION', description: 'a contribution id (`w3a pool show POOL`)' }],
  options: {
    allow: { type: 'string', placeholder: 'P1,P2', description: 'purposes you consent to (* = any)' },
    deny: { type: 'string', placeholder: 'P1,P2', description: 'purposes you refuse' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  async run({ values, positionals, out }) {
    const id = datasetIdArg(requireArg(positionals, 0, this))
    const allow = purposes(values['allow'])
    if (!allow) throw new W3aError('INVALID_ARGUMENT', '--allow is required (the purposes you consent to; * = any)')
    const client = await clientFromOptions(values, { needsAccount: true })
    const r = await setPoolConsent(client, { id, allow, deny: purposes(values['deny']) ?? [] })
    out.result({ id, index: r.index.toString(), receipt: r.receipt }, `consent of ${id}: allow ${allow.join(', ')}`)
  },
}

export const poolWithdrawCommand: Command = {
  path: ['pool', 'withdraw'],
  summary: 'Withdraw a contribution: no job charged from now on reads it (its key stays; `pool delete` shreds it)',
  args: [{ name: 'CONTRIBUTION', description: 'a contribution id' }],
  options: { ...ACCOUNT_OPTION, ...GATEWAY_OPTION },
  async run({ values, positionals, out }) {
    const id = datasetIdArg(requireArg(positionals, 0, this))
    const client = await clientFromOptions(values, { needsAccount: true })
    const r = await setPoolConsent(client, { id, allow: [], withdrawn: true })
    out.result({ id, index: r.index.toString(), receipt: r.receipt }, `withdrawn ${id}`)
  },
}

export const poolDeleteCommand: Command = {
  path: ['pool', 'delete'],
  summary: "Delete a contribution: its key is shredded in custody (keeper-signed receipt), its blocks unpinned from storage",
  args: [{ name: 'CONTRIBUTION', description: 'a contribution id' }],
  options: { ...ACCOUNT_OPTION, ...GATEWAY_OPTION },
  help: [
    'The gateway\'s storage node then drops the contribution\'s manifest and segments (the roots your',
    'account uploaded; blocks a live dataset or another upload links stay). On a contribution already',
    'deleted in custody it only unpins (a retry). --json: { id, receipt, unpinned: { manifestCid,',
    'segments, blocks, bytes, kept, missing } }.',
  ].join('\n'),
  async run({ values, positionals, out }) {
    const id: Hex = datasetIdArg(requireArg(positionals, 0, this))
    const client = await clientFromOptions(values, { needsAccount: true })
    if ((await readDatasetAccess(client, { id })).deleted) {
      const unpinned = await unpinContribution(client, { id })
      out.result({ id, receipt: null, unpinned }, `${id} was already deleted in custody\n  ${unpinnedLine(unpinned)}`)
      return
    }
    const r = await deleteContribution(client, { id })
    const after = r.receipt.unrecoverableAfterEpoch
    out.result(
      { id, receipt: r.receipt, unpinned: r.unpinned },
      `deleted ${id}\n  receipt signed by keeper ${r.keeper}${after === undefined ? '' : `; no copy of its key opens after epoch ${after}`}\n  ${unpinnedLine(r.unpinned)}`,
    )
  },
}

function unpinnedLine(u: ContributionUnpinned): string {
  return `storage: ${u.blocks} blocks (${u.bytes} bytes) unpinned of ${1 + u.segments.length} roots; ${u.kept} kept (linked by a live dataset or another upload), ${u.missing} already gone`
}

export const POOL_COMMANDS = [poolCreateCommand, poolContributeCommand, poolShowCommand, poolConsentCommand, poolWithdrawCommand, poolDeleteCommand]
