import { bytesToHex, type Address, type Hash, type Hex } from 'viem'
import * as raw from 'multiformats/codecs/raw'
import { W3aError } from '../../../core/errors.js'
import { datasetRegistryAbi, getCredits, submitJob } from '../../../chain/portable.js'
import {
  analysisHash,
  functionHash,
  epsilonMicros,
  parseAnalysisRequest,
  parsePrivacyParams,
  privacyParamsHash,
  sealAnalysis,
  type PrivacyParams,
} from '../../../analysis/analysis-request.js'
import { parseOutputSpec, type UnitOutput } from '../../../analysis/unit-function/output-type.js'
import { deriveAnalystResultKey } from '../../../crypto/analyst-result-key.js'
import { carOfBlock } from '../../../storage/car-of-block.js'
import { uploadCar } from '../../upload-car.js'
import { cliHint } from '../../cli-hint.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'
import { walletFor } from '../../wallet.js'
import { requireDataset } from '../market/dataset.js'
import { readAnalystBudget } from '../custody/readAnalystBudget.js'
import { getAnalysisKey } from './getAnalysisKey.js'

/**
 * A per-unit function (docs/analyst.md, "Per-unit functions"): JavaScript source that evaluates
 * to a function of one privacy unit's rows, the declared type of its answer
 * (`number:LO:HI`, `category:A,B,…`, `vector:N:LO:HI`, or the parsed form), how answers are
 * aggregated (default: histogram for categories, sum otherwise) and an optional dimension
 * column to group by.
 */
export type UnitFunctionQuery = { source: string; output: UnitOutput | string; aggregate?: 'sum' | 'mean' | 'histogram'; groupBy?: string }

export type SubmitQueryParameters = {
  /** Dataset id. In the SQL the dataset is the table `data`. */
  id: Hex
  /** Give the SQL, or a per-unit function. */
  sql?: string
  function?: UnitFunctionQuery
  /**
   * ε to spend, a multiple of 0.000001 and at least the policy's minimum. Absent: the dataset
   * policy's default ε per query (read from a keeper). 0: an exact answer, only where the owner
   * allows them. δ is the policy's.
   */
  epsilon?: number
  /** Per-measure clamp bounds [lower, upper] inside the owner's (default: the owner's public bounds). */
  bounds?: PrivacyParams['bounds']
  /** Per-unit contribution bounds under DP. */
  contribution?: PrivacyParams['contribution']
  /** Worker fee in token base units, on top of the credit (default 0). */
  fee?: bigint
  /**
   * What the result is for, declared on chain with the job. Required on a pool: only the
   * contributions whose owners consent to this purpose are read (docs/pools.md).
   */
  purpose?: string
}

export type SubmitQueryReturnType = {
  jobId: bigint
  hash: Hash
  /** CID of the sealed analysis block in storage. */
  analysisCid: string
  analysisHash: Hex
  privacyParamsHash: Hex
  /** The worker key the job went to, and its deadline (unix seconds). */
  worker: Address
  deadline: number
}

/** The request body for SQL or a function, without the result key (INVALID_ARGUMENT unless exactly one is given). */
export function analysisBody(params: Pick<SubmitQueryParameters, 'sql' | 'function'>): Record<string, unknown> {
  const f = params.function
  if ((params.sql === undefined) === (f === undefined)) throw new W3aError('INVALID_ARGUMENT', 'give the SQL or a per-unit function, exactly one')
  if (f === undefined) return { v: 1, kind: 'sql', sql: params.sql }
  const output = typeof f.output === 'string' ? parseOutputSpec(f.output) : f.output
  const aggregate = f.aggregate ?? (output.kind === 'category' ? 'histogram' : 'sum')
  return { v: 1, kind: 'function', source: f.source, output, aggregate, ...(f.groupBy === undefined ? {} : { groupBy: f.groupBy }) }
}

/**
 * Submits a SQL analysis (or a per-unit function) of a dataset the account holds a usage credit on. The request (SQL and
 * the analyst's wallet-derived result key) and the privacy parameters are sealed to the keepers'
 * analysis key and stored as a raw IPFS block; the job on chain names its CID and commits to
 * both by hash, and posts ε so that custody charges it before any data is opened.
 * Malformed parameters and a missing credit are refused before anything is sent.
 */
export async function submitQuery(client: W3aClient, params: SubmitQueryParameters): Promise<SubmitQueryReturnType> {
  const account = requireAccount(client, 'query')
  const fee = params.fee ?? 0n
  if (fee < 0n) throw new W3aError('INVALID_ARGUMENT', `fee must not be negative, got ${fee}`)
  const { network, publicClient } = await chainReader(client)
  const { market, datasetRegistry, jobs } = network.contracts
  const dataset = await requireDataset(publicClient, datasetRegistry, params.id)
  if (dataset.status !== 'active') throw new W3aError('DATASET_NOT_ACTIVE', `dataset ${params.id} is ${dataset.status}: it takes no queries now`)
  const { credits } = await getCredits(publicClient, { market, analyst: account.address, datasetId: params.id })
  if (credits === 0n) {
    throw new W3aError('NO_CREDITS', `${account.address} holds no usage credit on dataset ${params.id}`, {
      details: [`Buy one first: ${cliHint(`w3a market buy ${params.id} --credits 1`, account.address)}`, 'A credit is used once per query, also by a query the worker refuses or that fails on the data.'],
    })
  }

  const isPool = await publicClient.readContract({ address: datasetRegistry, abi: datasetRegistryAbi, functionName: 'isPool', args: [params.id] })
  if (isPool && !params.purpose?.trim()) {
    throw new W3aError('INVALID_ARGUMENT', `dataset ${params.id} is a pool: declare what the result is for`, { details: ['Give a purpose (CLI: --purpose "health research"); only contributors who consent to it are counted.'] })
  }

  // No ε named: the policy's default, as custody states it to this analyst.
  const epsilon = params.epsilon ?? (await readAnalystBudget(client, { id: params.id })).queryTerms.defaultEpsilon
  const privacy = parsePrivacyParams({
    epsilon,
    ...(params.bounds ? { bounds: params.bounds } : {}),
    ...(params.contribution ? { contribution: params.contribution } : {}),
  })
  const resultKey = await deriveAnalystResultKey({ account, chainId: network.chainId })
  resultKey.privateKey.fill(0)
  const request = parseAnalysisRequest({ ...analysisBody(params), resultKey: bytesToHex(resultKey.publicKey) })
  const key = await getAnalysisKey(client)
  const sealed = await sealAnalysis({ chainId: network.chainId, jobs, analysisPublicKey: key.publicKey, epoch: key.epoch, request, privacy })
  const { cid, car } = await carOfBlock(sealed, raw.code)
  await uploadCar(client, { root: cid, car })

  const committed = { analysisCid: cid.toString(), analysisHash: analysisHash(request), privacyParamsHash: privacyParamsHash(privacy) }
  // Declared in clear: custody checks the kind and function against the policy before charging.
  const declared = request.kind === 'function' ? { analysisKind: 'function' as const, functionHash: functionHash(request.source) } : { analysisKind: 'sql' as const }
  const r = await submitJob(walletFor(network, account), { jobs, datasetId: params.id, ...committed, epsilonMicros: epsilonMicros(privacy), fee, ...declared, ...(params.purpose === undefined ? {} : { purpose: params.purpose }) })
  return { jobId: r.jobId, hash: r.hash, ...committed, worker: r.worker, deadline: r.deadline }
}
