import type { Address } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SetAllowSimParameters = {
  registry: Address
  /** Dev networks only. false also makes every registered sim worker ineligible. */
  allowSim: boolean
}

export type SetAllowSimReturnType = WriteResult & { allowSim: boolean }

/** Governance only. */
export async function setAllowSim({ publicClient, walletClient }: WriteClients, params: SetAllowSimParameters): Promise<SetAllowSimReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'setAllowSim',
        args: [params.allowSim],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      return { hash, blockNumber: receipt.blockNumber, allowSim: params.allowSim }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
