import type { Address, Hex } from 'viem'
import { datasetRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertDatasetId } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type UpdateDatasetManifestParameters = {
  registry: Address
  id: Hex
  /** CIDv1 (base32) of the new encrypted manifest. */
  manifestCid: string
  schemaHash: Hex
}

export type UpdateDatasetManifestReturnType = WriteResult & { id: Hex; manifestCid: string; schemaHash: Hex }

/** Owner only: points the dataset at a new manifest (e.g. after appending segments). */
export async function updateDatasetManifest(
  { publicClient, walletClient }: WriteClients,
  params: UpdateDatasetManifestParameters,
): Promise<UpdateDatasetManifestReturnType> {
  assertDatasetId(params.id)
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: datasetRegistryAbi,
        functionName: 'updateManifest',
        args: [params.id, params.manifestCid, params.schemaHash],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      return { hash, blockNumber: receipt.blockNumber, id: params.id, manifestCid: params.manifestCid, schemaHash: params.schemaHash }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
