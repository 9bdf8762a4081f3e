import type { Address } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SetMinKeepersParameters = {
  registry: Address
  /**
   * The smallest custody keeper set that may release a key or refuse a job (1 to 255). It is
   * part of every enclave's measured network config: keepers re-join under the new measurement.
   */
  count: number
}

export type SetMinKeepersReturnType = WriteResult & { minKeepers: number }

/** Governance only. */
export async function setMinKeepers({ publicClient, walletClient }: WriteClients, params: SetMinKeepersParameters): Promise<SetMinKeepersReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'setMinKeepers',
        args: [params.count],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      return { hash, blockNumber: receipt.blockNumber, minKeepers: params.count }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
