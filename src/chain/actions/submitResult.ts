import { parseEventLogs, type Address, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { jobsAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertBytes32 } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SubmitResultParameters = {
  jobs: Address
  jobId: bigint
  /** Hash of the (encrypted) output the worker commits to. */
  outputHash: Hex
  /** The worker key's signature from signResult (EIP-191 over resultDigest). */
  signature: Hex
}

export type SubmitResultReturnType = WriteResult & {
  /** Token base units accrued to the dataset owner, the worker's operator (share, fee excluded) and the treasury. */
  ownerAmount: bigint
  workerAmount: bigint
  treasuryAmount: bigint
  fee: bigint
}

/**
 * Sent by the assigned worker key (NotAssignedWorker otherwise): posts the signed result
 * commitment; the contract checks the signature (BadResultSignature) and pays out.
 */
export async function submitResult({ publicClient, walletClient }: WriteClients, params: SubmitResultParameters): Promise<SubmitResultReturnType> {
  assertBytes32(params.outputHash, 'outputHash')
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.jobs,
        abi: jobsAbi,
        functionName: 'submitResult',
        args: [params.jobId, params.outputHash, params.signature],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: jobsAbi, logs: receipt.logs, eventName: 'JobCompleted' })
      if (event === undefined) throw new W3aError('CHAIN_ERROR', `submitResult transaction ${hash} emitted no JobCompleted event`)
      const { ownerAmount, workerAmount, treasuryAmount, fee } = event.args
      return { hash, blockNumber: receipt.blockNumber, ownerAmount, workerAmount, treasuryAmount, fee }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
