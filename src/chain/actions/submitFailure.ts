import type { Address, Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { jobsAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertBytes32 } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SubmitFailureParameters = {
  jobs: Address
  jobId: bigint
  /** 0..255: why the job failed (bad query, budget exhausted, data deleted…). */
  reasonCode: number
  /** keccak256 of the public error report. */
  reasonHash: Hex
  /** The worker key's signature from signFailure (EIP-191 over failureDigest). */
  signature: Hex
}

export type SubmitFailureReturnType = WriteResult

/**
 * Sent by the assigned worker key: a TEE-signed error report (BadFailureSignature otherwise).
 * The analyst's credit comes back and the fee accrues to the analyst's earnings.
 */
export async function submitFailure({ publicClient, walletClient }: WriteClients, params: SubmitFailureParameters): Promise<SubmitFailureReturnType> {
  assertBytes32(params.reasonHash, 'reasonHash')
  if (!Number.isInteger(params.reasonCode) || params.reasonCode < 0 || params.reasonCode > 255) {
    throw new W3aError('INVALID_ARGUMENT', `reasonCode must be an integer from 0 to 255, got ${params.reasonCode}`)
  }
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.jobs,
        abi: jobsAbi,
        functionName: 'submitFailure',
        args: [params.jobId, params.reasonCode, params.reasonHash, params.signature],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      return { hash, blockNumber: receipt.blockNumber }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
