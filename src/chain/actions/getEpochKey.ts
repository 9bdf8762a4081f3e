import type { Address, Hex } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf } from '../write.js'

export type GetEpochKeyParameters = {
  registry: Address
  epoch: bigint
  blockNumber?: bigint
}

/**
 * The epoch's *agreed* cluster public key (a strict majority of the active keepers voted for it),
 * or null while there is none: no vote yet, too few, or a split. Never a key only some keepers
 * voted for; what each keeper voted is `getEpochKeyVote`.
 */
export type GetEpochKeyReturnType = Hex | null

export async function getEpochKey(publicClient: ChainPublicClient, params: GetEpochKeyParameters): Promise<GetEpochKeyReturnType> {
  const key = await withChainErrors(
    () =>
      publicClient.readContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'epochKey',
        args: [params.epoch],
        ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
      }),
    { rpcUrl: rpcUrlOf(publicClient) },
  )
  return /^0x0{64}$/.test(key) ? null : key
}
