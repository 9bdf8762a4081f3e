import type { Address, Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { custodyInboxAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { EMPTY_INBOX_HEAD, nextInboxHead, type InboxEntry } from '../inbox.js'
import { rpcUrlOf } from '../write.js'

export type ReadInboxParameters = {
  /** CustodyInbox address. */
  inbox: Address
  /** First entry wanted. Default 0. */
  fromIndex?: bigint
  /**
   * Where to start scanning (e.g. the block of the last entry already read). Default: the
   * inbox's deployment block. Must not be after the block of entry `fromIndex`.
   */
  fromBlock?: bigint
  /** Last block scanned. Default: the latest block when the call starts. */
  toBlock?: bigint
  /**
   * Head before entry `fromIndex` (the head of entry fromIndex-1), to verify the first entry's
   * link too. The zero head is assumed for fromIndex 0.
   */
  previousHead?: Hex
  /** Stop after this many entries. */
  limit?: number
  /** Blocks per eth_getLogs request. Default 5 000 (most providers cap ranges around 10 000). */
  blockRange?: bigint
}

/** Contiguous entries fromIndex, fromIndex+1, … in index order. */
export type ReadInboxReturnType = InboxEntry[]

/**
 * Reads inbox entries from the CommandPosted events, page by page over block ranges, with
 * their block timestamps. Verifies what it returns: indices are contiguous from `fromIndex`
 * and every head follows from the previous one (CHAIN_ERROR otherwise), so an RPC node cannot
 * drop, reorder or alter entries in the middle unnoticed.
 */
export async function readInbox(publicClient: ChainPublicClient, params: ReadInboxParameters): Promise<ReadInboxReturnType> {
  const fromIndex = params.fromIndex ?? 0n
  const blockRange = params.blockRange ?? 5_000n
  const limit = params.limit ?? Number.POSITIVE_INFINITY
  if (fromIndex < 0n) throw new W3aError('INVALID_ARGUMENT', `fromIndex must not be negative, got ${fromIndex}`)
  if (blockRange <= 0n) throw new W3aError('INVALID_ARGUMENT', `blockRange must be positive, got ${blockRange}`)
  if (!(limit > 0)) throw new W3aError('INVALID_ARGUMENT', `limit must be positive, got ${limit}`)

  return withChainErrors(
    async () => {
      const toBlock = params.toBlock ?? (await publicClient.getBlockNumber({ cacheTime: 0 }))
      const fromBlock =
        params.fromBlock ?? (await publicClient.readContract({ address: params.inbox, abi: custodyInboxAbi, functionName: 'startBlock' }))
      const entries: InboxEntry[] = []
      const timestamps = new Map<bigint, bigint>()
      let previousHead: Hex | undefined = params.previousHead ?? (fromIndex === 0n ? EMPTY_INBOX_HEAD : undefined)
      let expected = fromIndex

      for (let start = fromBlock; start <= toBlock && entries.length < limit; start += blockRange) {
        const end = start + blockRange - 1n < toBlock ? start + blockRange - 1n : toBlock
        const logs = await publicClient.getContractEvents({
          address: params.inbox,
          abi: custodyInboxAbi,
          eventName: 'CommandPosted',
          fromBlock: start,
          toBlock: end,
          strict: true,
        })
        const page = logs.filter((l) => l.args.index >= fromIndex)
        if (page.length === 0) continue
        // Logs come in chain order, which is index order; sort anyway in case a node does not.
        page.sort((a, b) => (a.args.index < b.args.index ? -1 : a.args.index > b.args.index ? 1 : 0))
        const taken = page.slice(0, Math.max(0, Math.min(page.length, limit - entries.length)))
        const missing = [...new Set(taken.map((l) => l.blockNumber))].filter((b) => !timestamps.has(b))
        const blocks = await Promise.all(missing.map((blockNumber) => publicClient.getBlock({ blockNumber })))
        for (const b of blocks) timestamps.set(b.number, b.timestamp)

        for (const log of taken) {
          const { index, sender, epoch, ciphertext, head } = log.args
          if (index !== expected) {
            throw new W3aError('CHAIN_ERROR', `inbox ${params.inbox}: expected entry ${expected}, found ${index}`, {
              details:
                expected === fromIndex
                  ? [`entry ${fromIndex} is not in blocks ${fromBlock}..${toBlock}: pass a fromBlock at or before its block`]
                  : ['the RPC node returned a gap in the inbox events'],
            })
          }
          const entry = { index, sender, epoch, ciphertext, head }
          if (previousHead !== undefined && nextInboxHead(previousHead, entry) !== head) {
            throw new W3aError('CHAIN_ERROR', `inbox ${params.inbox}: hash chain broken at entry ${index}`, {
              details: ['the events do not chain from the previous head: the RPC node altered, dropped or reordered entries'],
            })
          }
          entries.push({ ...entry, blockNumber: log.blockNumber, timestamp: timestamps.get(log.blockNumber)! })
          previousHead = head
          expected = index + 1n
        }
      }
      return entries
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
