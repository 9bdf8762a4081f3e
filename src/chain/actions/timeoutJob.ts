import { parseEventLogs, type Address } from 'viem'
import { W3aError } from '../../core/errors.js'
import { jobsAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type TimeoutJobParameters = { jobs: Address; jobId: bigint }

export type TimeoutJobReturnType = WriteResult & {
  /** The worker that missed the deadline. */
  lateWorker: Address
  /** Stake taken from it (a penalty, not a ban; 0 if it failed). */
  slashed: bigint
} & ({ outcome: 'reassigned'; worker: Address; deadline: number } | { outcome: 'refunded' })

/**
 * Anyone, after the deadline (DeadlineNotReached / JobNotOpen otherwise): takes part of the late worker's stake,
 * then reassigns the job once or, on the second timeout or with nobody else eligible, refunds it.
 */
export async function timeoutJob({ publicClient, walletClient }: WriteClients, params: TimeoutJobParameters): Promise<TimeoutJobReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.jobs,
        abi: jobsAbi,
        functionName: 'timeout',
        args: [params.jobId],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const logs = parseEventLogs({ abi: jobsAbi, logs: receipt.logs })
      const timedOut = logs.find((l) => l.eventName === 'JobTimedOut')
      const assigned = logs.find((l) => l.eventName === 'JobAssigned')
      if (timedOut?.eventName !== 'JobTimedOut') throw new W3aError('CHAIN_ERROR', `timeout transaction ${hash} emitted no JobTimedOut event`)
      const base = { hash, blockNumber: receipt.blockNumber, lateWorker: timedOut.args.worker, slashed: timedOut.args.slashed }
      return assigned?.eventName === 'JobAssigned'
        ? { ...base, outcome: 'reassigned', worker: assigned.args.worker, deadline: Number(assigned.args.deadline) }
        : { ...base, outcome: 'refunded' }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
