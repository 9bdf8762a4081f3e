import { formatUnits, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { uploadDataset, downloadDataset, listDatasets, getDatasetInfo, inspectDataset, type UploadProgress, type DownloadProgress } from '../../sdk/index.js'
import { STORAGE_ORDER_OPTIONS, storageOrderHelp, storeFromOptions } from './storage-order.js'
import { parseColumnTypes } from '../../storage/index.js'
import { ACCOUNT_OPTION, GATEWAY_OPTION, requireArg, requireString, type Command } from '../command.js'
import { clientFromOptions } from '../client-from-options.js'
import { table } from '../output.js'

const TOKEN_DECIMALS = 18

export function datasetIdArg(raw: string): Hex {
  if (!/^0x[0-9a-fA-F]{64}$/.test(raw)) {
    throw new W3aError('INVALID_ARGUMENT', `"${raw}" is not a dataset id (0x followed by 64 hex digits)`, { details: ['List ids with `w3a dataset ls`.'] })
  }
  return raw.toLowerCase() as Hex
}

/** Upload no longer lists: `--price` is refused with the command that does. */
function refusePrice(raw: string | boolean | undefined, account: string | boolean | undefined): void {
  if (raw === undefined) return
  const n = typeof account === 'string' ? account : 'N'
  throw new W3aError('INVALID_ARGUMENT', '`dataset upload` no longer takes --price: an upload is unlisted until you list it on the market', {
    details: [
      'Upload, set the policy, then list with the price:',
      `  w3a dataset policy ID --dimensions … --measures … --account ${n}`,
      `  w3a market list ID --price ${typeof raw === 'string' ? raw : 'P'} --summary "…" --account ${n}`,
    ],
  })
}

const tokens = (units: string | bigint) => `${formatUnits(BigInt(units), TOKEN_DECIMALS)} PHA`

export const datasetUploadCommand: Command = {
  path: ['dataset', 'upload'],
  summary: 'Encrypt a table on this machine, store it as IPFS blocks, and register it on chain',
  args: [{ name: 'FILE', description: 'a .csv (with header), .jsonl/.ndjson or .parquet file' }],
  options: {
    name: { type: 'string', placeholder: 'NAME', description: 'dataset name (public)' },
    'privacy-unit': { type: 'string', placeholder: 'COLUMN', description: 'column that identifies a person (default: each row is its own unit)' },
    price: { type: 'string', placeholder: 'TOKENS', description: 'refused: the price is set when listing (`w3a market list ID --price P`)' },
    'rows-per-segment': { type: 'string', placeholder: 'N', description: 'rows per encrypted segment (default 1000000)' },
    schema: { type: 'string', placeholder: 'COL:TYPE,…', description: 'CSV: declare column types (BIGINT DOUBLE VARCHAR DATE TIMESTAMP BOOLEAN); a value that does not fit stops the upload, naming its line' },
    yes: { type: 'boolean', description: 'upload a column that is numbers but for a few values as text anyway' },
    ...STORAGE_ORDER_OPTIONS,
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  help: [
    'The schema is inferred and shown before anything is uploaded. Only ciphertext leaves this machine.',
    'The dataset is registered unlisted: set its policy (`w3a dataset policy`), then list it',
    '(`w3a market list ID --price P --summary …`).',
    'A CSV column that is numbers but for a few values (n/a, 12,5) stops the upload before anything is',
    'encrypted or sent: the error names the column and the lines. Fix them, declare the type with',
    '--schema amount:DOUBLE (a value that does not fit is then an error naming its line, never NULL),',
    'or upload the column as text with --yes.',
    ...storageOrderHelp(true),
    'Example: w3a dataset upload visits.csv --name visits --privacy-unit user_id --account 0',
    '         w3a dataset upload visits.csv --name visits --schema amount:DOUBLE,day:DATE --account 0',
  ].join('\n'),
  async run({ values, positionals, out }) {
    const file = requireArg(positionals, 0, this)
    const name = requireString(values, 'name', this)
    refusePrice(values['price'], values['account'])
    const rowsRaw = values['rows-per-segment']
    const rowsPerSegment = rowsRaw === undefined ? undefined : Number(rowsRaw)
    if (rowsPerSegment !== undefined && (!Number.isInteger(rowsPerSegment) || rowsPerSegment < 1)) {
      throw new W3aError('INVALID_ARGUMENT', `--rows-per-segment must be a positive integer, got "${String(rowsRaw)}"`)
    }
    const accountText = typeof values['account'] === 'string' ? values['account'] : 'N'
    const types = typeof values['schema'] === 'string' ? parseColumnTypes(values['schema']) : undefined
    const source = {
      file,
      ...(typeof values['privacy-unit'] === 'string' ? { privacyUnit: values['privacy-unit'] } : {}),
      ...(types ? { types } : {}),
      acceptText: values['yes'] === true,
    }
    // The file alone first: its schema, and a stop on suspect columns, before any network call.
    const s = await inspectDataset(source)
    out.info(`${s.format} file, ${s.rows} rows; schema: ${s.columns.map((c) => `${c.name} ${c.type}`).join(', ')}`)
    for (const b of s.suspect) out.info(`note: ${b.column} is uploaded as text (--yes); ${b.count} of ${b.nonNull} values are not numbers`)
    const client = await clientFromOptions(values, { needsAccount: true })
    const result = await uploadDataset(client, {
      ...source,
      name,
      ...(rowsPerSegment ? { rowsPerSegment } : {}),
      onProgress: (p: UploadProgress) => out.progress(`${p.stage.padEnd(8)} ${p.done}/${p.total}`),
    })
    const order = await storeFromOptions(client, values, { id: result.id, manifestCid: result.manifestCid, sizeBytes: BigInt(result.sizeBytes) }, out)
    out.result(
      { id: result.id, manifestCid: result.manifestCid, rows: result.rows, tx: result.tx, segments: result.segments, columns: result.columns, ...(order ? { storageOrder: order } : {}) },
      [
        `uploaded ${result.rows} rows in ${result.segments} encrypted segment(s)`,
        `  id        ${result.id}`,
        `  manifest  ${result.manifestCid}`,
        `  tx        ${result.tx}`,
        ...(order ? [`  storage   order ${order.orderId} on ${order.nodes.length} node(s), ${order.escrow.formatted} ${order.escrow.symbol} escrowed`] : []),
        `  status    unlisted: analysts cannot buy it yet. Next:`,
        `    w3a dataset policy ${result.id} --dimensions … --measures … --account ${accountText}`,
        `    w3a market list ${result.id} --price P --summary "…" --account ${accountText}`,
      ].join('\n'),
    )
  },
}

export const datasetLsCommand: Command = {
  path: ['dataset', 'ls'],
  summary: 'List datasets registered on chain',
  options: {
    owner: { type: 'string', placeholder: 'ADDRESS', description: 'only datasets of this owner' },
    mine: { type: 'boolean', description: 'only datasets of the account given by --account / W3A_PRIVATE_KEY' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  async run({ values, out }) {
    const client = await clientFromOptions(values, { needsAccount: values['mine'] === true && '--mine (your own datasets)' })
    const owner = values['mine'] === true ? client.account!.address : (values['owner'] as Hex | undefined)
    const datasets = await listDatasets(client, owner ? { owner } : {})
    out.result(
      { datasets },
      table(
        datasets.map((d) => ({ ...d, price: tokens(d.pricePerQuery) })),
        ['id', 'name', 'owner', 'status', 'price'],
      ),
    )
  },
}

export const datasetShowCommand: Command = {
  path: ['dataset', 'show'],
  summary: 'Show a dataset: on-chain record and public manifest (schema, rows, segments)',
  args: [{ name: 'ID', description: 'dataset id (0x…64 hex)' }],
  options: { ...GATEWAY_OPTION },
  async run({ values, positionals, out }) {
    const id = datasetIdArg(requireArg(positionals, 0, this))
    const client = await clientFromOptions(values)
    const info = await getDatasetInfo(client, { id })
    const d = info.dataset
    const m = info.manifest
    const lines = [
      `${d.name}  (${d.status})`,
      `  id          ${d.id}`,
      `  owner       ${d.owner}`,
      `  price       ${tokens(d.pricePerQuery)} per query`,
      `  manifest    ${d.manifestCid}`,
      `  registered  ${new Date(d.createdAt * 1000).toISOString()}`,
    ]
    if (m) {
      lines.push(`  rows        ${m.rows} in ${m.segments.length} encrypted segment(s)`, `  privacy unit ${m.privacyUnit ?? '(each row)'}`, '  schema:')
      for (const c of m.schema.columns) lines.push(`    ${c.name.padEnd(24)} ${c.type}`)
    } else lines.push('  manifest blocks are not held by this gateway')
    out.result(info, lines.join('\n'))
  },
}

export const datasetDownloadCommand: Command = {
  path: ['dataset', 'download'],
  summary: "Get your own dataset's rows back, decrypted on this machine",
  args: [{ name: 'ID', description: 'dataset id' }],
  options: {
    out: { type: 'string', placeholder: 'FILE', description: 'output file; .csv, .jsonl or .parquet chooses the format' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  async run({ values, positionals, out }) {
    const id = datasetIdArg(requireArg(positionals, 0, this))
    const outFile = requireString(values, 'out', this)
    if (!/\.(csv|jsonl|ndjson|parquet)$/i.test(outFile)) {
      throw new W3aError('INVALID_ARGUMENT', `--out must end in .csv, .jsonl or .parquet, got "${outFile}"`)
    }
    const client = await clientFromOptions(values, { needsAccount: true })
    const result = await downloadDataset(client, {
      id,
      out: outFile,
      onProgress: (p: DownloadProgress) => out.progress(`${p.stage.padEnd(8)} ${p.done}/${p.total}`),
    })
    out.result(result, `wrote ${result.rows} rows to ${result.out}`)
  },
}
