import type { Address } from 'viem'
import { W3aError } from '../../core/errors.js'
import { workerRegistryAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { workerFromView, type WorkerInfo, type WorkerRole, type WorkerStatus } from '../worker.js'
import { rpcUrlOf } from '../write.js'

export type ListWorkersParameters = {
  registry: Address
  /** Only workers registered with this role. */
  role?: WorkerRole
  /** Only workers in this status (or these). Default: all, exited and slashed included. */
  status?: WorkerStatus | readonly WorkerStatus[]
  /** Workers fetched per eth_call. Default 50. */
  pageSize?: number
  /** Read at this block (default: the latest block, pinned so that pages are consistent). */
  blockNumber?: bigint
}

export type ListWorkersReturnType = WorkerInfo[]

/** Every registered worker in registration order, with status computed by the registry at that block. */
export async function listWorkers(publicClient: ChainPublicClient, params: ListWorkersParameters): Promise<ListWorkersReturnType> {
  const pageSize = params.pageSize ?? 50
  if (!Number.isInteger(pageSize) || pageSize <= 0) throw new W3aError('INVALID_ARGUMENT', `pageSize must be a positive integer, got ${pageSize}`)
  const wanted = params.status === undefined ? undefined : new Set<WorkerStatus>(typeof params.status === 'string' ? [params.status] : params.status)
  const all = await withChainErrors(
    async () => {
      const blockNumber = params.blockNumber ?? (await publicClient.getBlockNumber({ cacheTime: 0 }))
      const read = { address: params.registry, abi: workerRegistryAbi, blockNumber } as const
      const count = await publicClient.readContract({ ...read, functionName: 'workerCount' })
      const out: WorkerInfo[] = []
      for (let offset = 0n; offset < count; offset += BigInt(pageSize)) {
        const page = await publicClient.readContract({ ...read, functionName: 'viewWorkers', args: [offset, BigInt(pageSize)] })
        out.push(...page.map(workerFromView))
      }
      return out
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
  return all.filter((w) => (params.role === undefined || w.roles.includes(params.role)) && (wanted === undefined || wanted.has(w.status)))
}
