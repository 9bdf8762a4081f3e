import type { Address, Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { datasetRegistryAbi } from '../abis.js'
import type { ChainPublicClient } from '../clients.js'
import { assertDatasetId, datasetFromStruct, type Dataset } from '../dataset.js'
import { TxRevertedError, toChainError } from '../errors.js'
import { rpcUrlOf } from '../write.js'

export type GetDatasetParameters = {
  registry: Address
  id: Hex
  /** Read at this block (default: latest). */
  blockNumber?: bigint
}

export type GetDatasetReturnType = Dataset

/** Reads one dataset; DATASET_NOT_FOUND when the id was never registered. */
export async function getDataset(publicClient: ChainPublicClient, params: GetDatasetParameters): Promise<GetDatasetReturnType> {
  assertDatasetId(params.id)
  try {
    const d = await publicClient.readContract({
      address: params.registry,
      abi: datasetRegistryAbi,
      functionName: 'get',
      args: [params.id],
      ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
    })
    return datasetFromStruct(params.id, d)
  } catch (e) {
    const err = toChainError(e, { rpcUrl: rpcUrlOf(publicClient) })
    if (err instanceof TxRevertedError && err.errorName === 'UnknownDataset') {
      throw new W3aError('DATASET_NOT_FOUND', `no dataset ${params.id} in the registry at ${params.registry}`, { cause: err })
    }
    throw err
  }
}
