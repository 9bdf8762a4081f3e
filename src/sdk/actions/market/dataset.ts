import type { Address, Hex } from 'viem'
import { isW3aError, W3aError } from '../../../core/errors.js'
import { getDataset, type ChainPublicClient, type Dataset } from '../../../chain/portable.js'

/** The dataset's on-chain record; DATASET_NOT_FOUND says where to find ids. */
export async function requireDataset(publicClient: ChainPublicClient, registry: Address, id: Hex): Promise<Dataset> {
  try {
    return await getDataset(publicClient, { registry, id })
  } catch (e) {
    if (isW3aError(e, 'DATASET_NOT_FOUND')) {
      throw new W3aError('DATASET_NOT_FOUND', `no dataset ${id} on this network`, { details: ['`w3a market ls` lists the datasets on the market.'], cause: e })
    }
    throw e
  }
}
