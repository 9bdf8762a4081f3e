import type { Address } from 'viem'
import { storageMarketAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import type { StorageMarketParams } from '../storage.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SetStorageMarketParamsParameters = StorageMarketParams & { storageMarket: Address }
export type SetStorageMarketParamsReturnType = WriteResult

/** Governance only: replaces the StorageMarket's parameters (a new era length starts a new era at once). */
export async function setStorageMarketParams({ publicClient, walletClient }: WriteClients, params: SetStorageMarketParamsParameters): Promise<SetStorageMarketParamsReturnType> {
  const { storageMarket, ...p } = params
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({ address: storageMarket, abi: storageMarketAbi, functionName: 'setParams', args: [p], account: walletClient.account })
      const hash = await walletClient.writeContract(request)
      return { hash, blockNumber: (await waitForSuccess(publicClient, hash)).blockNumber }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
