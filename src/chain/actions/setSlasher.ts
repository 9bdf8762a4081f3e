import type { Address } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SetSlasherParameters = {
  registry: Address
  /** An account or contract (e.g. the jobs contract) allowed to slash. */
  slasher: Address
  allowed: boolean
}

export type SetSlasherReturnType = WriteResult & { slasher: Address; allowed: boolean }

/** Governance only. */
export async function setSlasher({ publicClient, walletClient }: WriteClients, params: SetSlasherParameters): Promise<SetSlasherReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'setSlasher',
        args: [params.slasher, params.allowed],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      return { hash, blockNumber: receipt.blockNumber, slasher: params.slasher, allowed: params.allowed }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
