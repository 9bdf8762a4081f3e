import type { Address, Hex } from 'viem'
import { custodyInboxAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf } from '../write.js'

export type GetInboxStateParameters = {
  inbox: Address
  /** Read at this block (default: the latest, pinned so that both values agree). */
  blockNumber?: bigint
}

export type GetInboxStateReturnType = {
  /** Entries posted so far (the next entry's index). */
  count: bigint
  /** Hash chain head after the last entry (zero when empty). */
  head: Hex
  /** Where readers start scanning events. */
  startBlock: bigint
  /** The WorkerRegistry the inbox belongs to. */
  registry: Address
  blockNumber: bigint
}

export async function getInboxState(publicClient: ChainPublicClient, params: GetInboxStateParameters): Promise<GetInboxStateReturnType> {
  return withChainErrors(
    async () => {
      const blockNumber = params.blockNumber ?? (await publicClient.getBlockNumber({ cacheTime: 0 }))
      const read = { address: params.inbox, abi: custodyInboxAbi, blockNumber } as const
      const [count, head, startBlock, registry] = await Promise.all([
        publicClient.readContract({ ...read, functionName: 'count' }),
        publicClient.readContract({ ...read, functionName: 'head' }),
        publicClient.readContract({ ...read, functionName: 'startBlock' }),
        publicClient.readContract({ ...read, functionName: 'registry' }),
      ])
      return { count, head, startBlock, registry, blockNumber }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
