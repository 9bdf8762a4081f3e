import type { Address, Hex } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf } from '../write.js'

export type GetEpochKeyVoteParameters = {
  registry: Address
  epoch: bigint
  keeper: Address
  blockNumber?: bigint
}

/** The key `keeper` voted for in `epoch` and how many keepers voted for that key; null if it has not voted. */
export type GetEpochKeyVoteReturnType = { key: Hex; votes: bigint } | null

/**
 * One keeper's vote for an epoch key (`publishEpochKey`). A vote is not an agreed key: seal
 * only to `getEpochKey`. Used by a keeper's host to vote once per epoch, and to show a dispute.
 */
export async function getEpochKeyVote(publicClient: ChainPublicClient, params: GetEpochKeyVoteParameters): Promise<GetEpochKeyVoteReturnType> {
  const at = params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }
  return withChainErrors(
    async () => {
      const key = await publicClient.readContract({ address: params.registry, abi: workerRegistryAbi, functionName: 'epochKeyVote', args: [params.epoch, params.keeper], ...at })
      if (/^0x0{64}$/.test(key)) return null
      const votes = await publicClient.readContract({ address: params.registry, abi: workerRegistryAbi, functionName: 'epochKeyVotes', args: [params.epoch, key], ...at })
      return { key, votes }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
