import type { Address } from 'viem'
import { W3aError } from '../../core/errors.js'
import type { TcbPolicy } from '../../tee/tcb-policy.js'
import { workerRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SetTcbPolicyParameters = { registry: Address; policy: TcbPolicy }

export type SetTcbPolicyReturnType = WriteResult & { policy: TcbPolicy }

/**
 * Governance only: replaces the registry's TCB policy. Fails with TX_REVERTED
 * "OwnableUnauthorizedAccount" for anyone else, "InvalidParameter" for an empty or oversized
 * entry, more than 64 entries in a list, or a zero maxQuoteAge.
 */
export async function setTcbPolicy({ publicClient, walletClient }: WriteClients, params: SetTcbPolicyParameters): Promise<SetTcbPolicyReturnType> {
  const { policy } = params
  if (!Number.isSafeInteger(policy.maxQuoteAge) || policy.maxQuoteAge <= 0) {
    throw new W3aError('INVALID_ARGUMENT', `maxQuoteAge must be a positive number of seconds, got ${policy.maxQuoteAge}`)
  }
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'setTcbPolicy',
        args: [{ statuses: [...policy.statuses], advisoryStatuses: [...policy.advisoryStatuses], advisoryIds: [...policy.advisoryIds], maxQuoteAge: BigInt(policy.maxQuoteAge) }],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      return { hash, blockNumber: receipt.blockNumber, policy }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
