import type { Address, Hex } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import type { WorkerRegistryParams } from '../worker.js'
import { rpcUrlOf } from '../write.js'

export type GetRegistryParamsParameters = {
  registry: Address
  /** Read at this block (default: the latest, pinned so that all values agree). */
  blockNumber?: bigint
}

export type GetRegistryParamsReturnType = WorkerRegistryParams & {
  /** Staking token. */
  token: Address
  governance: Address
  allowedMeasurements: Hex[]
  /** True once an epoch key was published: the epoch length can no longer change. */
  epochLengthLocked: boolean
  /** The smallest keeper set that may release a key (in every enclave's measured config). */
  minKeepers: number
}

/** The WorkerRegistry's governance parameters and allow-list. */
export async function getRegistryParams(publicClient: ChainPublicClient, params: GetRegistryParamsParameters): Promise<GetRegistryParamsReturnType> {
  return withChainErrors(
    async () => {
      const blockNumber = params.blockNumber ?? (await publicClient.getBlockNumber({ cacheTime: 0 }))
      const read = { address: params.registry, abi: workerRegistryAbi, blockNumber } as const
      const [allowSim, devAttestationSigner, minStake, heartbeatTimeout, epochLength, token, governance, allowedMeasurements, epochLengthLocked, minKeepers] =
        await Promise.all([
          publicClient.readContract({ ...read, functionName: 'allowSim' }),
          publicClient.readContract({ ...read, functionName: 'devAttestationSigner' }),
          publicClient.readContract({ ...read, functionName: 'minStake' }),
          publicClient.readContract({ ...read, functionName: 'heartbeatTimeout' }),
          publicClient.readContract({ ...read, functionName: 'epochLength' }),
          publicClient.readContract({ ...read, functionName: 'token' }),
          publicClient.readContract({ ...read, functionName: 'governance' }),
          publicClient.readContract({ ...read, functionName: 'allowedMeasurements' }),
          publicClient.readContract({ ...read, functionName: 'epochLengthLocked' }),
          publicClient.readContract({ ...read, functionName: 'minKeepers' }),
        ])
      return {
        allowSim,
        devAttestationSigner,
        minStake,
        heartbeatTimeout,
        epochLength,
        token,
        governance,
        allowedMeasurements: [...allowedMeasurements],
        epochLengthLocked,
        minKeepers,
      }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
