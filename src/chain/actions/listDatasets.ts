import type { Address } from 'viem'
import { W3aError } from '../../core/errors.js'
import { datasetRegistryAbi } from '../abis.js'
import { datasetFromStruct, statusToUint, type Dataset, type DatasetStatus } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import type { ChainReadClient } from '../read-client.js'
import { rpcUrlOf } from '../write.js'

export type ListDatasetsParameters = {
  registry: Address
  /** Only datasets registered by this owner. */
  owner?: Address
  /** Only datasets in this status (or these statuses). Default: all, deleted included. */
  status?: DatasetStatus | readonly DatasetStatus[]
  /** Datasets fetched per eth_call. Default 100. */
  pageSize?: number
  /** Read at this block (default: the latest block, pinned so that pages are consistent). */
  blockNumber?: bigint
}

export type ListDatasetsReturnType = Dataset[]

/** Every dataset in registration order, optionally filtered by owner and status. */
export async function listDatasets(publicClient: ChainReadClient, params: ListDatasetsParameters): Promise<ListDatasetsReturnType> {
  const pageSize = params.pageSize ?? 100
  if (!Number.isInteger(pageSize) || pageSize <= 0) throw new W3aError('INVALID_ARGUMENT', `pageSize must be a positive integer, got ${pageSize}`)
  const wanted = params.status === undefined ? undefined : new Set((typeof params.status === 'string' ? [params.status] : params.status).map(statusToUint))

  const all = await withChainErrors(
    async () => {
      const blockNumber = params.blockNumber ?? (await publicClient.getBlockNumber({ cacheTime: 0 })) // no cache: a stale block would miss just-registered datasets
      const read = { address: params.registry, abi: datasetRegistryAbi, blockNumber } as const
      const out: Dataset[] = []
      if (params.owner !== undefined) {
        const ids = await publicClient.readContract({ ...read, functionName: 'datasetsOf', args: [params.owner] })
        for (let i = 0; i < ids.length; i += pageSize) {
          const page = ids.slice(i, i + pageSize)
          const items = await publicClient.readContract({ ...read, functionName: 'getMany', args: [page] })
          items.forEach((d, j) => out.push(datasetFromStruct(page[j]!, d)))
        }
      } else {
        const count = await publicClient.readContract({ ...read, functionName: 'count' })
        for (let offset = 0n; offset < count; offset += BigInt(pageSize)) {
          const [ids, items] = await publicClient.readContract({ ...read, functionName: 'slice', args: [offset, BigInt(pageSize)] })
          items.forEach((d, j) => out.push(datasetFromStruct(ids[j]!, d)))
        }
      }
      return out
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
  return wanted === undefined ? all : all.filter((d) => wanted.has(statusToUint(d.status)))
}
