import { formatUnits } from 'viem'
import { W3aError } from '../../core/errors.js'
import { JOB_STATUSES, type JobStatus } from '../../chain/index.js'
import { epsilonOfMicros } from '../../custody/job-charge.js'
import { failureCostText, failureReasonOfCode } from '../../analysis/job-envelope.js'
import { getJob, getJobProgress, getTokenInfo, listJobs, openJobResult, timeoutJob, verifyJob, type VerifyJobReturnType } from '../../sdk/index.js'
import { ACCOUNT_OPTION, GATEWAY_OPTION, requireArg, type Command } from '../command.js'
import { clientFromOptions } from '../client-from-options.js'
import { table } from '../output.js'
import { readJsonFile } from '../read-json-file.js'
import { outputText } from './query.js'
import { datasetIdArg } from './dataset.js'

const short = (hex: string) => `${hex.slice(0, 8)}…${hex.slice(-4)}`
const iso = (unix: number) => (unix ? new Date(unix * 1000).toISOString() : '-')

function jobIdArg(raw: string): bigint {
  if (!/^\d{1,20}$/.test(raw)) throw new W3aError('INVALID_ARGUMENT', `"${raw}" is not a job id (a number)`, { details: ['List ids with `w3a job ls`.'] })
  return BigInt(raw)
}

function statusOption(raw: string | boolean | undefined): JobStatus | undefined {
  if (raw === undefined) return undefined
  if (!(JOB_STATUSES as readonly unknown[]).includes(raw)) {
    throw new W3aError('INVALID_ARGUMENT', `--status must be one of ${JOB_STATUSES.join(', ')}, got "${String(raw)}"`)
  }
  return raw as JobStatus
}

export const jobLsCommand: Command = {
  path: ['job', 'ls'],
  summary: 'List jobs on chain (status, dataset, analyst, worker, fee)',
  options: {
    dataset: { type: 'string', placeholder: 'ID', description: 'only jobs on this dataset' },
    status: { type: 'string', placeholder: 'S', description: `only jobs in this status: ${JOB_STATUSES.join(', ')}` },
    mine: { type: 'boolean', description: 'only jobs submitted by the account given by --account / W3A_PRIVATE_KEY' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  async run({ values, out }) {
    const datasetId = typeof values['dataset'] === 'string' ? datasetIdArg(values['dataset']) : undefined
    const status = statusOption(values['status'])
    const client = await clientFromOptions(values, { needsAccount: values['mine'] === true && '--mine (your own jobs)' })
    const [jobs, token] = await Promise.all([
      listJobs(client, { ...(datasetId ? { datasetId } : {}), ...(status ? { status } : {}), ...(values['mine'] === true ? { analyst: client.account!.address } : {}) }),
      getTokenInfo(client),
    ])
    out.result(
      { jobs },
      table(
        jobs.map((j) => ({
          id: j.id,
          status: j.status,
          dataset: short(j.datasetId),
          analyst: short(j.analyst),
          worker: short(j.worker),
          fee: `${formatUnits(j.fee, token.decimals)} ${token.symbol}`,
          created: iso(j.createdAt),
        })),
        ['id', 'status', 'dataset', 'analyst', 'worker', 'fee', 'created'],
      ),
    )
  },
}

export const jobShowCommand: Command = {
  path: ['job', 'show'],
  summary: "Show a job's chain record: status, parties, deadline, fee, ε, output hash",
  args: [{ name: 'ID', description: 'job id (a number)' }],
  options: { ...GATEWAY_OPTION },
  async run({ values, positionals, out }) {
    const id = jobIdArg(requireArg(positionals, 0, this))
    const client = await clientFromOptions(values)
    const [job, token] = await Promise.all([getJob(client, { id }), getTokenInfo(client)])
    const tokens = (x: bigint) => `${formatUnits(x, token.decimals)} ${token.symbol}`
    const epsilon = epsilonOfMicros(job.epsilonMicros)
    const lines = [
      `job ${job.id}  (${job.status})`,
      `  analyst       ${job.analyst}`,
      `  worker        ${job.worker}`,
      `  dataset       ${job.datasetId}`,
      `  attempt       ${job.attempt}`,
      `  created       ${iso(job.createdAt)}`,
      `  deadline      ${iso(job.deadline)}`,
      `  fee           ${tokens(job.fee)}`,
      `  credit value  ${tokens(job.creditValue)}`,
      `  ε             ${job.epsilonMicros === 0n ? '0 (no differential privacy)' : epsilon}`,
      `  analysis      ${job.analysisCid}`,
      // A failed job's outputHash field holds the hash of the worker's failure report.
      `  ${job.status === 'failed' ? 'reason hash ' : 'output hash '}  ${/^0x0+$/.test(job.outputHash) ? '-' : job.outputHash}`,
    ]
    const reason = job.status === 'failed' ? failureReasonOfCode(job.reasonCode) : undefined
    if (job.status === 'failed') lines.push(`  reason        ${reason ?? 'unknown'} (code ${job.reasonCode})`)
    if (job.status === 'refunded') lines.push('  reason        refunded: the worker(s) missed the deadline (timeout)')
    const progress = job.status === 'open' ? await getJobProgress(client, { id, worker: job.worker }) : undefined
    if (progress) lines.push(`  worker says   ${progress.reachable ? `${progress.state}${progress.note ? ` (${progress.note})` : ''} since ${iso(progress.since)}` : progress.why}`)
    if (job.status === 'open' && Date.now() / 1000 > job.deadline) lines.push(`  overdue       past its deadline: \`w3a job timeout ${job.id}\` reassigns or refunds it`)
    out.result({ ...job, epsilon, ...(reason ? { reason } : {}), ...(progress ? { progress } : {}) }, lines.join('\n'))
  },
}

function verifiedLines(v: VerifyJobReturnType): string[] {
  const a = v.attestation
  return [
    `job ${v.job.id}  ${v.job.status}  — verified`,
    `  signature     by worker ${v.worker.address} over the Jobs contract's ${v.envelope.status === 'completed' ? 'result' : 'failure'} digest`,
    `  ${v.envelope.status === 'completed' ? 'output hash ' : 'reason hash '}  ${v.envelope.status === 'completed' ? v.envelope.outputHash : v.envelope.reasonHash} (matches the chain)`,
    `  attestation   ${a.teeType}${a.teeType === 'sim' ? ' (simulated TEE: proves nothing, dev networks only)' : `, TCB ${a.tcbStatus}`}`,
    `  measurement   ${a.measurement} (on the allow-list)`,
    `  quote         ${a.quoteHash} (the one registered; binds the worker key)`,
  ]
}

export const jobVerifyCommand: Command = {
  path: ['job', 'verify'],
  summary: "Check a finished job's result as anyone can: worker signature, chain record, worker attestation",
  args: [{ name: 'ID', description: 'job id (a number)' }],
  options: {
    collateral: { type: 'string', placeholder: 'FILE', description: 'DCAP collateral JSON, to verify a tdx/sgx worker' },
    time: { type: 'string', placeholder: 'UNIX', description: 'verify the quote as of this time, unix seconds (default now)' },
    ...GATEWAY_OPTION,
  },
  help: 'Needs no account and opens nothing: the output stays sealed to the analyst. Exits non-zero, saying which check failed, if any does.',
  async run({ values, positionals, out }) {
    const id = jobIdArg(requireArg(positionals, 0, this))
    const time = values['time']
    if (time !== undefined && (typeof time !== 'string' || !/^\d{1,12}$/.test(time))) throw new W3aError('INVALID_ARGUMENT', `--time must be unix seconds, got "${String(time)}"`)
    const collateral = typeof values['collateral'] === 'string' ? readJsonFile(values['collateral']) : undefined
    const client = await clientFromOptions(values)
    out.progress(`verifying job ${id}...`)
    const v = await verifyJob(client, { id, ...(collateral === undefined ? {} : { collateral }), ...(time === undefined ? {} : { now: Number(time) }) })
    out.result({ verified: true, jobId: v.job.id, status: v.job.status, worker: v.worker, attestation: v.attestation, envelope: v.envelope }, verifiedLines(v).join('\n'))
  },
}

export const jobResultCommand: Command = {
  path: ['job', 'result'],
  summary: 'Analyst: verify a finished job of yours again and print its decrypted result (or why it failed)',
  args: [{ name: 'ID', description: 'job id (a number)' }],
  options: {
    collateral: { type: 'string', placeholder: 'FILE', description: 'DCAP collateral JSON, to verify a tdx/sgx worker' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  help: 'The result opens only with the key derived from the wallet that submitted the job.',
  async run({ values, positionals, out }) {
    const id = jobIdArg(requireArg(positionals, 0, this))
    const collateral = typeof values['collateral'] === 'string' ? readJsonFile(values['collateral']) : undefined
    const client = await clientFromOptions(values, { needsAccount: true })
    out.progress(`verifying job ${id}...`)
    const v = await verifyJob(client, { id, ...(collateral === undefined ? {} : { collateral }) })
    const opened = await openJobResult(client, { envelope: v.envelope })
    const text =
      opened.status === 'completed'
        ? outputText(opened.output)
        : [`job ${id} failed: ${opened.reason} (code ${opened.reasonCode}). ${failureCostText(opened.reason)}`, ...(opened.detail ? [`  ${opened.detail.split('\n').join('\n  ')}`] : [])].join('\n')
    out.result({ jobId: id, ...opened }, [text, '', ...verifiedLines(v)].join('\n'))
  },
}

export const jobTimeoutCommand: Command = {
  path: ['job', 'timeout'],
  summary: 'Anyone: end a job past its deadline (the late worker loses part of its stake; the job is reassigned once, then refunded)',
  args: [{ name: 'ID', description: 'job id (a number)' }],
  options: { ...ACCOUNT_OPTION, ...GATEWAY_OPTION },
  help: '`w3a query` does this itself while it waits; use this for a job it stopped waiting for.',
  async run({ values, positionals, out }) {
    const id = jobIdArg(requireArg(positionals, 0, this))
    const client = await clientFromOptions(values, { needsAccount: true })
    out.progress(`timing out job ${id}...`)
    const r = await timeoutJob(client, { id })
    const what = r.outcome === 'reassigned' ? `reassigned to worker ${r.worker} (deadline ${iso(r.deadline)})` : 'refunded: the credit went back to the analyst, the fee to their earnings'
    out.result(r, [`job ${id} timed out: ${what}`, `  late worker  ${r.lateWorker} lost ${r.penalty.formatted} ${r.penalty.symbol} of stake`, `  tx           ${r.hash}`].join('\n'))
  },
}
