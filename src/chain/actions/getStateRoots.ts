import type { Address, Hex } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf } from '../write.js'

export type GetStateRootsParameters = {
  registry: Address
  epoch: bigint
  blockNumber?: bigint
}

export type PublishedStateRoot = {
  keeper: Address
  inboxCount: bigint
  root: Hex
  /** Block and time (Unix seconds) of the keeper's latest publication for the epoch. */
  blockNumber: bigint
  timestamp: number
}

/** Every keeper's root for the epoch, in order of first publication. */
export type GetStateRootsReturnType = PublishedStateRoot[]

export async function getStateRoots(publicClient: ChainPublicClient, params: GetStateRootsParameters): Promise<GetStateRootsReturnType> {
  const [keepers, roots] = await withChainErrors(
    () =>
      publicClient.readContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'stateRoots',
        args: [params.epoch],
        ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
      }),
    { rpcUrl: rpcUrlOf(publicClient) },
  )
  return keepers.map((keeper, i) => {
    const r = roots[i]!
    return { keeper, inboxCount: r.inboxCount, root: r.root, blockNumber: r.blockNumber, timestamp: Number(r.timestamp) }
  })
}
