import type { Address } from 'viem'
import { storageMarketAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import type { StorageMarketParams } from '../storage.js'
import { rpcUrlOf } from '../write.js'

export type GetStorageMarketParamsParameters = { storageMarket: Address; blockNumber?: bigint }
export type GetStorageMarketParamsReturnType = StorageMarketParams & {
  /** The era at the block read. */
  currentEra: bigint
  blockNumber: bigint
  jobs: Address
  workerRegistry: Address
  datasetRegistry: Address
  token: Address
  governance: Address
}

/** The StorageMarket's governance parameters, current era and the contracts it uses (one block). */
export async function getStorageMarketParams(publicClient: ChainPublicClient, params: GetStorageMarketParamsParameters): Promise<GetStorageMarketParamsReturnType> {
  return withChainErrors(
    async () => {
      const blockNumber = params.blockNumber ?? (await publicClient.getBlockNumber({ cacheTime: 0 }))
      const read = { address: params.storageMarket, abi: storageMarketAbi, blockNumber } as const
      const [p, currentEra, jobs, workerRegistry, datasetRegistry, token, governance] = await Promise.all([
        publicClient.readContract({ ...read, functionName: 'params' }),
        publicClient.readContract({ ...read, functionName: 'currentEra' }),
        publicClient.readContract({ ...read, functionName: 'jobs' }),
        publicClient.readContract({ ...read, functionName: 'workers' }),
        publicClient.readContract({ ...read, functionName: 'datasets' }),
        publicClient.readContract({ ...read, functionName: 'token' }),
        publicClient.readContract({ ...read, functionName: 'governance' }),
      ])
      return { eraLength: p.eraLength, maxFailures: p.maxFailures, challengeSlash: p.challengeSlash, currentEra, blockNumber, jobs, workerRegistry, datasetRegistry, token, governance }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
