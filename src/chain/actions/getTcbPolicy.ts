import type { Address } from 'viem'
import type { TcbPolicy } from '../../tee/tcb-policy.js'
import { workerRegistryAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf } from '../write.js'

export type GetTcbPolicyParameters = {
  registry: Address
  /** Read at this block (default: latest). */
  blockNumber?: bigint
}

export type GetTcbPolicyReturnType = TcbPolicy

/**
 * The registry's TCB policy (governance-set): accepted TCB statuses, statuses accepted only
 * with listed advisories, the listed advisory ids, and the maximum quote age in seconds.
 * Verifiers pass it as `TeePolicy.tcb` so that `checkTcbPolicy` applies it.
 */
export async function getTcbPolicy(publicClient: ChainPublicClient, params: GetTcbPolicyParameters): Promise<GetTcbPolicyReturnType> {
  return withChainErrors(
    async () => {
      const p = await publicClient.readContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'tcbPolicy',
        ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
      })
      return { statuses: [...p.statuses], advisoryStatuses: [...p.advisoryStatuses], advisoryIds: [...p.advisoryIds], maxQuoteAge: Number(p.maxQuoteAge) }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
