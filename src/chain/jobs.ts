import { encodeAbiParameters, hexToBytes, keccak256, stringToHex, type Address, type Hex, type LocalAccount } from 'viem'
import { W3aError } from '../core/errors.js'
import { assertBytes32 } from './dataset.js'

// Byte-level helpers of the jobs protocol. resultDigest / failureDigest match Jobs.resultDigestFor /
// Jobs.failureDigest byte for byte (tested against the contract); workers sign them with EIP-191
// (`signMessage({ message: { raw: digest } })`), which the contract checks with ecrecover.

/** Order matches `Jobs.Status` (Open = 0, Completed = 1, Failed = 2, Refunded = 3). */
export const JOB_STATUSES = ['open', 'completed', 'failed', 'refunded'] as const
export type JobStatus = (typeof JOB_STATUSES)[number]

/** Governance parameters of the Jobs contract (shares in basis points summing to 10 000). */
export type JobsParams = {
  ownerShareBps: number
  workerShareBps: number
  treasuryShareBps: number
  /**
   * Part of each payout (basis points of the credit's value, at most ownerShareBps) taken from the
   * owners' share for the nodes storing the dataset (StorageMarket.creditDataset); 0: none.
   */
  storageBps: number
  /** Seconds a worker has to finish a job (per assignment). */
  jobTimeout: bigint
  /** Token base units slashed from a worker per timeout (capped at its stake). */
  slashAmount: bigint
  /** Receives the treasury share. */
  treasury: Address
}

/** A job as the Jobs contract stores it. */
export type Job = {
  id: bigint
  analyst: Address
  status: JobStatus
  /** 1 for the first assignment, 2 after the reassignment. */
  attempt: number
  /** Unix seconds (block timestamps). */
  createdAt: number
  deadline: number
  /** The currently assigned worker key. */
  worker: Address
  datasetId: Hex
  analysisCid: string
  analysisHash: Hex
  privacyParamsHash: Hex
  /** keccak256 of the dataset's manifest CID string at submission (inputCidsHashFor). */
  inputCidsHash: Hex
  /** Completed: the result's output hash. Failed: the failure report's reasonHash. Else zero. */
  outputHash: Hex
  /** Failed: the worker's reason code. */
  reasonCode: number
  /** Worker fee, token base units. */
  fee: bigint
  /** Escrowed price of the credit the job reserved. */
  creditValue: bigint
  /** ε asked for, in millionths (0 = no DP). */
  epsilonMicros: bigint
  /** The dataset is a pool (DatasetRegistry.isPool): the result carries the contributors' weights. */
  pool: boolean
  /** What the analyst declared in clear: the analysis kind (checked by keepers before charging). */
  analysisKind: AnalysisKindName
  /** A function job's functionHash; zero for SQL. */
  functionHash: Hex
  /** The purpose the analyst declared (pool contributors consent per purpose). */
  purpose: string
}

/** `Jobs.KIND_SQL` = 0, `Jobs.KIND_FUNCTION` = 1. */
export const ANALYSIS_KIND_CODES = { sql: 0, function: 1 } as const
export type AnalysisKindName = keyof typeof ANALYSIS_KIND_CODES

export function analysisKindOf(code: number): AnalysisKindName {
  if (code === 0) return 'sql'
  if (code === 1) return 'function'
  throw new W3aError('INTERNAL', `unknown analysis kind ${code} returned by the jobs contract`)
}

/** The struct as viem decodes `Jobs.getJob`. */
export type JobStruct = {
  analyst: Address
  status: number
  attempt: number
  createdAt: bigint
  deadline: bigint
  worker: Address
  datasetId: Hex
  analysisHash: Hex
  privacyParamsHash: Hex
  inputCidsHash: Hex
  outputHash: Hex
  reasonCode: number
  fee: bigint
  creditValue: bigint
  epsilonMicros: bigint
  analysisCid: string
  pool: boolean
  analysisKind: number
  functionHash: Hex
  purpose: string
}

export function jobStatusFromUint(n: number): JobStatus {
  const s = JOB_STATUSES[n]
  if (s === undefined) throw new W3aError('INTERNAL', `unknown job status ${n} returned by the jobs contract`)
  return s
}

export function jobFromStruct(id: bigint, j: JobStruct): Job {
  return {
    id,
    analyst: j.analyst,
    status: jobStatusFromUint(j.status),
    attempt: j.attempt,
    createdAt: Number(j.createdAt),
    deadline: Number(j.deadline),
    worker: j.worker,
    datasetId: j.datasetId,
    analysisCid: j.analysisCid,
    analysisHash: j.analysisHash,
    privacyParamsHash: j.privacyParamsHash,
    inputCidsHash: j.inputCidsHash,
    outputHash: j.outputHash,
    reasonCode: j.reasonCode,
    fee: j.fee,
    creditValue: j.creditValue,
    epsilonMicros: j.epsilonMicros,
    pool: j.pool,
    analysisKind: analysisKindOf(j.analysisKind),
    functionHash: j.functionHash,
    purpose: j.purpose,
  }
}

/** keccak256 of the manifest CID string's UTF-8 bytes, as the contract snapshots it at submission. */
export function inputCidsHashFor(manifestCid: string): Hex {
  return keccak256(stringToHex(manifestCid))
}

/** Where a digest is valid: the chain and the Jobs contract. */
export type JobsDomain = { chainId: number; jobs: Address }

/** One job on one worker: what a sealed release or output is bound to. */
export type JobWorkerBinding = JobsDomain & { jobId: bigint; worker: Address }

/** abi.encode(chainId, jobs, jobId, worker): the HPKE AAD of a job's release and of its output. */
export function jobWorkerAad(p: JobWorkerBinding): Uint8Array {
  return hexToBytes(encodeAbiParameters([{ type: 'uint256' }, { type: 'address' }, { type: 'uint256' }, { type: 'address' }], [BigInt(p.chainId), p.jobs, p.jobId, p.worker]))
}

export type ResultDigestParameters = JobsDomain & {
  jobId: bigint
  inputCidsHash: Hex
  analysisHash: Hex
  outputHash: Hex
  privacyParamsHash: Hex
}

/**
 * keccak256(abi.encode("w3a.result.v1", chainId, jobs, jobId, inputCidsHash, analysisHash,
 * outputHash, privacyParamsHash)) — the tag abi-encoded as a dynamic string.
 */
export function resultDigest(p: ResultDigestParameters): Hex {
  for (const k of ['inputCidsHash', 'analysisHash', 'outputHash', 'privacyParamsHash'] as const) assertBytes32(p[k], k)
  return keccak256(
    encodeAbiParameters(
      [{ type: 'string' }, { type: 'uint256' }, { type: 'address' }, { type: 'uint256' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }],
      ['w3a.result.v1', BigInt(p.chainId), p.jobs, p.jobId, p.inputCidsHash, p.analysisHash, p.outputHash, p.privacyParamsHash],
    ),
  )
}

export type FailureDigestParameters = JobsDomain & {
  jobId: bigint
  inputCidsHash: Hex
  analysisHash: Hex
  privacyParamsHash: Hex
  /** 0..255, the worker's reason code (e.g. bad query, budget exhausted, data deleted). */
  reasonCode: number
  /** keccak256 of the public error report. */
  reasonHash: Hex
}

/**
 * keccak256(abi.encode("w3a.failure.v1", chainId, jobs, jobId, inputCidsHash, analysisHash,
 * privacyParamsHash, uint8 reasonCode, reasonHash)).
 */
export function failureDigest(p: FailureDigestParameters): Hex {
  for (const k of ['inputCidsHash', 'analysisHash', 'privacyParamsHash', 'reasonHash'] as const) assertBytes32(p[k], k)
  if (!Number.isInteger(p.reasonCode) || p.reasonCode < 0 || p.reasonCode > 255) {
    throw new W3aError('INVALID_ARGUMENT', `reasonCode must be an integer from 0 to 255, got ${p.reasonCode}`)
  }
  return keccak256(
    encodeAbiParameters(
      [
        { type: 'string' },
        { type: 'uint256' },
        { type: 'address' },
        { type: 'uint256' },
        { type: 'bytes32' },
        { type: 'bytes32' },
        { type: 'bytes32' },
        { type: 'uint8' },
        { type: 'bytes32' },
      ],
      ['w3a.failure.v1', BigInt(p.chainId), p.jobs, p.jobId, p.inputCidsHash, p.analysisHash, p.privacyParamsHash, p.reasonCode, p.reasonHash],
    ),
  )
}

/** The worker key's EIP-191 signature over resultDigest (what Jobs.submitResult checks). */
export async function signResult(account: Pick<LocalAccount, 'signMessage'>, params: ResultDigestParameters): Promise<Hex> {
  return account.signMessage({ message: { raw: resultDigest(params) } })
}

export type PoolResultDigestParameters = ResultDigestParameters & {
  /** Root of the contributors' weights (royalty-tree.ts). */
  weightsRoot: Hex
  totalWeight: bigint
}

/**
 * keccak256(abi.encode("w3a.pool-result.v1", chainId, jobs, jobId, inputCidsHash, analysisHash,
 * outputHash, privacyParamsHash, weightsRoot, uint256 totalWeight)) — Jobs.poolResultDigestFor.
 */
export function poolResultDigest(p: PoolResultDigestParameters): Hex {
  for (const k of ['inputCidsHash', 'analysisHash', 'outputHash', 'privacyParamsHash', 'weightsRoot'] as const) assertBytes32(p[k], k)
  return keccak256(
    encodeAbiParameters(
      [{ type: 'string' }, { type: 'uint256' }, { type: 'address' }, { type: 'uint256' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint256' }],
      ['w3a.pool-result.v1', BigInt(p.chainId), p.jobs, p.jobId, p.inputCidsHash, p.analysisHash, p.outputHash, p.privacyParamsHash, p.weightsRoot, p.totalWeight],
    ),
  )
}

/** The worker key's EIP-191 signature over poolResultDigest (what Jobs.submitPoolResult checks). */
export async function signPoolResult(account: Pick<LocalAccount, 'signMessage'>, params: PoolResultDigestParameters): Promise<Hex> {
  return account.signMessage({ message: { raw: poolResultDigest(params) } })
}

/** The worker key's EIP-191 signature over failureDigest (what Jobs.submitFailure checks). */
export async function signFailure(account: Pick<LocalAccount, 'signMessage'>, params: FailureDigestParameters): Promise<Hex> {
  return account.signMessage({ message: { raw: failureDigest(params) } })
}

/** The job fields a digest needs, taken from a Job read on chain. */
export function digestFieldsOf(job: Pick<Job, 'id' | 'inputCidsHash' | 'analysisHash' | 'privacyParamsHash'>): {
  jobId: bigint
  inputCidsHash: Hex
  analysisHash: Hex
  privacyParamsHash: Hex
} {
  return { jobId: job.id, inputCidsHash: job.inputCidsHash, analysisHash: job.analysisHash, privacyParamsHash: job.privacyParamsHash }
}
