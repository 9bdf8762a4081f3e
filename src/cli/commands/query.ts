import { readFileSync } from 'node:fs'
import { W3aError } from '../../core/errors.js'
import type { JobOutput } from '../../analysis/job-output.js'
import { functionHash } from '../../analysis/analysis-request.js'
import { aggregatesFor, checkFunctionSource, formatOutputSpec, parseOutputSpec, type UnitAggregate } from '../../analysis/unit-function/index.js'
import { checkQuery, runQuery, type RunQueryReturnType } from '../../sdk/index.js'
import { ACCOUNT_OPTION, GATEWAY_OPTION, requireArg, type Command } from '../command.js'
import { clientFromOptions } from '../client-from-options.js'
import { table } from '../output.js'
import { readJsonFile } from '../read-json-file.js'
import { datasetIdArg } from './dataset.js'
import { tokenOption } from './market.js'

const NUMBER = '-?\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?'

/** `amount=0:500,age=18:99` → { amount: [0, 500], age: [18, 99] }. */
export function boundsOption(raw: string | boolean | undefined): Record<string, [number, number]> | undefined {
  if (raw === undefined) return undefined
  const out: Record<string, [number, number]> = {}
  for (const part of String(raw).split(',')) {
    const m = new RegExp(`^\\s*([^=\\s]+)\\s*=\\s*(${NUMBER})\\s*:\\s*(${NUMBER})\\s*$`).exec(part)
    if (!m) throw new W3aError('INVALID_ARGUMENT', `--bounds: "${part}" is not COLUMN=LOWER:UPPER`, { details: ['Example: --bounds amount=0:500,age=18:99'] })
    const lower = Number(m[2])
    const upper = Number(m[3])
    if (!(lower <= upper)) throw new W3aError('INVALID_ARGUMENT', `--bounds: ${m[1]}'s lower bound ${lower} is above its upper bound ${upper}`)
    out[m[1]!] = [lower, upper]
  }
  return out
}

function epsilonOption(raw: string | boolean | undefined): number | undefined {
  if (raw === undefined) return undefined
  if (typeof raw !== 'string' || !/^\d+(\.\d{1,6})?$/.test(raw)) throw new W3aError('INVALID_ARGUMENT', `--epsilon must be a non-negative number with at most 6 decimals, got "${String(raw)}"`)
  return Number(raw)
}

/** The released table for people, then the privacy metadata. */
export function outputText(o: Pick<JobOutput, 'columns' | 'rows' | 'privacy'>): string {
  const names = o.columns.map((c) => c.name)
  const rows = o.rows.map((r) => Object.fromEntries(names.map((n, i) => [n, r[i] === null ? 'NULL' : r[i]])))
  const p = o.privacy
  const scale = Object.entries(p.noiseScale)
  return [
    table(rows, names),
    '',
    `privacy  k=${p.k}  ${p.suppressed === null ? 'groups below k not counted' : `suppressed ${p.suppressed} row(s)`}  mechanism ${p.mechanism}${p.delta === null ? '' : ` (δ ${p.delta})`}` +
      (scale.length ? `  noise scale ${scale.map(([c, s]) => `${c}:${Number(s.toPrecision(4))}`).join(' ')}` : ''),
    `         ε spent ${p.epsilonSpent}  ε left ${Number(p.epsilonLeft.toFixed(6))} (dataset)` +
      (p.analystEpsilonLeft === null ? '' : `, ${Number(p.analystEpsilonLeft.toFixed(6))} (your share)`),
  ].join('\n')
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (cause) {
    throw new W3aError('INPUT_UNREADABLE', `cannot read ${file}`, { cause })
  }
}

/** --function FILE --output SPEC [--aggregate A] [--group-by COL]: checked here, in the worker's own sandbox, before anything is paid. */
async function functionOption(values: Record<string, unknown>): Promise<{ source: string; output: string; aggregate: UnitAggregate; groupBy?: string } | undefined> {
  const file = values['function']
  if (file === undefined) {
    for (const f of ['output', 'aggregate', 'group-by', 'hash']) if (values[f] !== undefined) throw new W3aError('INVALID_ARGUMENT', `--${f} goes with --function FILE`)
    return undefined
  }
  if (typeof file !== 'string') throw new W3aError('INVALID_ARGUMENT', '--function needs a FILE')
  if (typeof values['output'] !== 'string') throw new W3aError('INVALID_ARGUMENT', '--function needs --output: number:LO:HI, category:A,B,… or vector:N:LO:HI')
  const source = readText(file)
  const output = parseOutputSpec(values['output'])
  const allowed = aggregatesFor(output)
  const aggregate = (values['aggregate'] ?? allowed[0]) as UnitAggregate
  if (!allowed.includes(aggregate)) throw new W3aError('INVALID_ARGUMENT', `--aggregate ${String(aggregate)} does not apply to a ${output.kind} answer: ${allowed.join(' or ')}`)
  await checkFunctionSource(source)
  const groupBy = values['group-by']
  return { source, output: formatOutputSpec(output), aggregate, ...(typeof groupBy === 'string' ? { groupBy } : {}) }
}

export const queryCommand: Command = {
  path: ['query'],
  summary: 'Run a SQL analysis (or a per-unit function) of a dataset in a TEE worker and print the privacy-checked result',
  args: [{ name: 'ID', description: 'dataset id' }],
  options: {
    sql: { type: 'string', placeholder: 'SQL', description: 'the query; the dataset is the table `data`' },
    'sql-file': { type: 'string', placeholder: 'FILE', description: 'read the query from a file instead' },
    function: { type: 'string', placeholder: 'FILE', description: "instead of SQL: a JavaScript function of one privacy unit's rows, run per unit in a sandbox" },
    output: { type: 'string', placeholder: 'TYPE', description: "the function's answer: number:LO:HI, category:A,B,… or vector:N:LO:HI (N ≤ 16)" },
    aggregate: { type: 'string', placeholder: 'A', description: 'sum or mean (numbers, vectors; default sum), histogram (categories)' },
    'group-by': { type: 'string', placeholder: 'COL', description: "group the function's answers by a dimension column" },
    hash: { type: 'boolean', description: "print the function's hash (what owners allow or deny) and stop: nothing is sent" },
    epsilon: { type: 'string', placeholder: 'E', description: "ε to spend (default: the dataset policy's ε per query)" },
    exact: { type: 'boolean', description: 'an exact answer (ε 0, k threshold only): only where the owner allows them, a few per analyst' },
    bounds: { type: 'string', placeholder: 'COL=LO:HI,…', description: "tighter clamp bounds per measure, inside the owner's (default: the owner's)" },
    fee: { type: 'string', placeholder: 'TOKENS', description: 'worker fee on top of the credit (default 0)' },
    purpose: { type: 'string', placeholder: 'TEXT', description: 'what the result is for, declared on chain (required on a pool: only contributors who consent to it count)' },
    timeout: { type: 'string', placeholder: 'SECONDS', description: 'stop waiting after this long (default 600; the job goes on)' },
    collateral: { type: 'string', placeholder: 'FILE', description: 'DCAP collateral JSON to verify a tdx/sgx worker' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  help: [
    'Uses one usage credit (buy with `w3a market buy ID --credits N`), also when the worker refuses the',
    "query or it fails on the data; a job that could not run (no worker, data gone) gives it back.",
    "By default the answer is differentially private at the dataset policy's ε per query, with the",
    "owner's public measure bounds: no privacy flag is needed. --exact only where the owner allows it.",
    "The query is first checked on this machine by the worker's own checker against the public schema:",
    "a query the worker would refuse costs nothing (no credit, no ε, no transaction). The owner's policy",
    "is confidential, so a query may still be refused for a column's class, min/max or the ε budget.",
    'Only aggregates leave the worker: each released row covers at least k privacy units (the',
    "dataset policy's k); identifiers never appear. The result is decrypted with your wallet-derived",
    "key, and the worker's signature, its chain record and its attestation are checked first.",
    'A per-unit function (--function FILE --output TYPE) runs once per privacy unit on that unit\'s rows;',
    'its answers are clamped to the declared type, then summed, averaged or counted with noise (always DP).',
    'Example: w3a query 0x… --sql "SELECT city, count(*) AS n, avg(amount) FROM data GROUP BY city" --account 2',
    '         w3a query 0x… --function gender.js --output category:male,female --account 2',
    '         w3a query 0x… --sql "SELECT sum(amount) FROM data" --epsilon 0.5 --account 2',
  ].join('\n'),
  async run({ values, positionals, out }) {
    const id = datasetIdArg(requireArg(positionals, 0, this))
    let sql = typeof values['sql'] === 'string' ? values['sql'] : undefined
    const file = values['sql-file']
    if (typeof file === 'string') {
      if (sql !== undefined) throw new W3aError('INVALID_ARGUMENT', 'give --sql or --sql-file, not both')
      sql = readText(file)
    }
    if (values['hash'] === true && typeof values['function'] === 'string') {
      const hash = functionHash(readText(values['function']))
      out.result({ functionHash: hash }, hash)
      return
    }
    const fn = await functionOption(values)
    if (fn && sql !== undefined) throw new W3aError('INVALID_ARGUMENT', 'give SQL or --function, not both')
    if (!fn && (sql === undefined || sql.trim() === '')) throw new W3aError('INVALID_ARGUMENT', 'give the query with --sql "SELECT …" or --sql-file FILE, or a per-unit function with --function FILE --output TYPE')
    if (values['exact'] === true && values['epsilon'] !== undefined) throw new W3aError('INVALID_ARGUMENT', 'give --exact or --epsilon, not both')
    const epsilon = values['exact'] === true ? 0 : epsilonOption(values['epsilon'])
    const bounds = boundsOption(values['bounds'])
    const timeout = values['timeout']
    if (timeout !== undefined && (typeof timeout !== 'string' || !/^\d{1,6}$/.test(timeout))) throw new W3aError('INVALID_ARGUMENT', `--timeout must be whole seconds, got "${String(timeout)}"`)
    const collateral = typeof values['collateral'] === 'string' ? readJsonFile(values['collateral']) : undefined
    const client = await clientFromOptions(values, { needsAccount: true })
    const fee = await tokenOption(client, values['fee'], '--fee')
    const query = {
      id,
      ...(fn ? { function: fn } : { sql: sql! }),
      ...(epsilon === undefined ? {} : { epsilon }),
      ...(bounds === undefined ? {} : { bounds }),
    }
    // Refused here, a query costs no credit, no ε and no transaction (a function was checked in the sandbox above).
    out.progress('check…')
    if (sql !== undefined) {
      const check = await checkQuery(client, { ...query, sql })
      if (!check.checked) out.progress(`not checked locally: ${check.reason}…`)
    } else out.progress(`function ${functionHash(fn!.source)}…`)
    const started = Date.now()
    const r: RunQueryReturnType = await runQuery(client, {
      ...query,
      ...(fee === undefined ? {} : { fee }),
      ...(typeof values['purpose'] === 'string' ? { purpose: values['purpose'] } : {}),
      ...(timeout === undefined ? {} : { timeoutMs: Number(timeout) * 1000 }),
      ...(collateral === undefined ? {} : { collateral }),
      onProgress: (stage, detail) => out.progress(`${stage}${detail ? `: ${detail}` : ''}…`),
    })
    const seconds = ((Date.now() - started) / 1000).toFixed(1)
    const a = r.attestation
    out.result(
      r,
      [
        outputText(r),
        `job      ${r.jobId}  (${seconds} s)  verified: signature by worker ${r.worker}, ${a.teeType} attestation, measurement ${a.measurement.slice(0, 18)}…` +
          (a.teeType === 'sim' ? '  [simulated TEE: dev only]' : `  tcb ${a.tcbStatus}`),
      ].join('\n'),
    )
  },
}
