import type { Address } from 'viem'
import { jobsAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import type { JobsParams } from '../jobs.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SetJobsParamsParameters = JobsParams & { jobs: Address }
export type SetJobsParamsReturnType = WriteResult

/**
 * Governance only: replaces the Jobs contract's parameters (e.g. the storage share `storageBps`);
 * shares apply to payouts made afterwards. InvalidParameter('shares' | 'storageBps' | 'jobTimeout').
 */
export async function setJobsParams({ publicClient, walletClient }: WriteClients, params: SetJobsParamsParameters): Promise<SetJobsParamsReturnType> {
  const { jobs, ...p } = params
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({ address: jobs, abi: jobsAbi, functionName: 'setParams', args: [p], account: walletClient.account })
      const hash = await walletClient.writeContract(request)
      return { hash, blockNumber: (await waitForSuccess(publicClient, hash)).blockNumber }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
