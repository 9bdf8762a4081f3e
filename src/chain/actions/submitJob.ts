import { parseEventLogs, type Address, type Hash, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { jobsAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertBytes32, assertDatasetId } from '../dataset.js'
import { ANALYSIS_KIND_CODES, type AnalysisKindName } from '../jobs.js'
import { withChainErrors } from '../errors.js'
import { simulateWithApprove } from '../simulate-with-approve.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

const ZERO_HASH: Hex = `0x${'00'.repeat(32)}`

export type SubmitJobParameters = {
  /** Jobs contract address. */
  jobs: Address
  datasetId: Hex
  /** CID of the analysis, sealed to the cluster key (≤ 128 bytes). */
  analysisCid: string
  /** keccak256 of the analysis (what the worker's result signature binds). */
  analysisHash: Hex
  /** Hash of the privacy parameters (ε, k, mechanism…), also bound in the result signature. */
  privacyParamsHash: Hex
  /** ε asked for, in millionths (0 = no DP). Posted with the job's charge to the custody inbox. */
  epsilonMicros?: bigint
  /** Worker fee in token base units (taken into escrow, paid to the worker or refunded). */
  fee: bigint
  /** Declared in clear (keepers check it against the policy before charging): default 'sql'. */
  analysisKind?: AnalysisKindName
  /** A function job's functionHash (required with analysisKind 'function'). */
  functionHash?: Hex
  /** What the result is for; required on a pool (contributors consent per purpose). */
  purpose?: string
  /** Default true: approve the jobs contract for `fee` when the allowance is short. */
  autoApprove?: boolean
}

export type SubmitJobReturnType = WriteResult & {
  jobId: bigint
  /** The worker key the job was assigned to. */
  worker: Address
  /** Unix seconds. */
  deadline: number
  /** Escrowed price of the reserved credit. */
  creditValue: bigint
  inputCidsHash: Hex
  approveHash?: Hash
}

/**
 * Submits a job with the wallet's account, which must hold a credit on the dataset: reserves
 * it, escrows the fee and assigns an eligible compute worker. Simulates first: NoCredits,
 * NoEligibleWorker, DatasetNotActive, InsufficientBalance… fail with TX_REVERTED, nothing sent.
 */
export async function submitJob(clients: WriteClients, params: SubmitJobParameters): Promise<SubmitJobReturnType> {
  const { publicClient, walletClient } = clients
  assertDatasetId(params.datasetId)
  assertBytes32(params.analysisHash, 'analysisHash')
  assertBytes32(params.privacyParamsHash, 'privacyParamsHash')
  if (params.fee < 0n) throw new W3aError('INVALID_ARGUMENT', `fee must not be negative, got ${params.fee}`)
  const epsilonMicros = params.epsilonMicros ?? 0n
  if (epsilonMicros < 0n || epsilonMicros >= 1n << 64n) throw new W3aError('INVALID_ARGUMENT', `epsilonMicros must fit in a uint64, got ${epsilonMicros}`)
  const analysisKind = params.analysisKind ?? 'sql'
  const functionHash = params.functionHash ?? ZERO_HASH
  assertBytes32(functionHash, 'functionHash')
  if ((analysisKind === 'function') !== (functionHash !== ZERO_HASH)) throw new W3aError('INVALID_ARGUMENT', 'a function job declares its functionHash, an SQL job none')
  const declared = { analysisKind: ANALYSIS_KIND_CODES[analysisKind], functionHash, purpose: params.purpose ?? '' }
  const rpcUrl = rpcUrlOf(publicClient)
  const read = { address: params.jobs, abi: jobsAbi } as const
  return withChainErrors(
    async () => {
      const simulate = () =>
        publicClient.simulateContract({
          ...read,
          functionName: 'submitJob',
          args: [params.datasetId, params.analysisCid, params.analysisHash, params.privacyParamsHash, epsilonMicros, params.fee, declared],
          account: walletClient.account,
        })
      // The allowance is checked after every other condition: approve `fee`, then retry.
      const token = () => publicClient.readContract({ ...read, functionName: 'token' })
      const { simulation, approveHash } = await simulateWithApprove(clients, { token, spender: params.jobs, amount: params.fee, autoApprove: params.autoApprove, simulate })
      const hash = await walletClient.writeContract(simulation.request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [submitted] = parseEventLogs({ abi: jobsAbi, logs: receipt.logs, eventName: 'JobSubmitted' })
      const [assigned] = parseEventLogs({ abi: jobsAbi, logs: receipt.logs, eventName: 'JobAssigned' })
      if (submitted === undefined || assigned === undefined) throw new W3aError('CHAIN_ERROR', `submitJob transaction ${hash} emitted no JobSubmitted/JobAssigned event`)
      return {
        hash,
        blockNumber: receipt.blockNumber,
        jobId: submitted.args.jobId,
        worker: assigned.args.worker,
        deadline: Number(assigned.args.deadline),
        creditValue: submitted.args.creditValue,
        inputCidsHash: submitted.args.inputCidsHash,
        ...(approveHash === undefined ? {} : { approveHash }),
      }
    },
    { rpcUrl },
  )
}
