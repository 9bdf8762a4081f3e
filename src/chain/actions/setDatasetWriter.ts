import { zeroAddress, type Address, type Hex } from 'viem'
import { datasetRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertDatasetId } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SetDatasetWriterParameters = {
  registry: Address
  id: Hex
  /** The one account besides the owner that may call updateManifest (zero address: none). */
  writer: Address
}

/** Owner only: lets `writer` append to the dataset (a site's attested ingest worker, docs/site-owner.md). */
export async function setDatasetWriter({ publicClient, walletClient }: WriteClients, params: SetDatasetWriterParameters): Promise<WriteResult> {
  assertDatasetId(params.id)
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({ address: params.registry, abi: datasetRegistryAbi, functionName: 'setWriter', args: [params.id, params.writer], account: walletClient.account })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      return { hash, blockNumber: receipt.blockNumber }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}

/** The dataset's writer besides its owner (zero address: none). */
export async function getDatasetWriter(publicClient: WriteClients['publicClient'], params: { registry: Address; id: Hex }): Promise<Address> {
  const w = (await publicClient.readContract({ address: params.registry, abi: datasetRegistryAbi, functionName: 'writerOf', args: [params.id] })) as Address
  return w === zeroAddress ? zeroAddress : w
}
