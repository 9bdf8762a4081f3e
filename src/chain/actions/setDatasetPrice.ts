import { parseEventLogs, type Address, type Hex } from 'viem'
import { datasetRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertDatasetId } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SetDatasetPriceParameters = {
  registry: Address
  id: Hex
  /** New price per query in token base units. */
  pricePerQuery: bigint
}

export type SetDatasetPriceReturnType = WriteResult & { id: Hex; oldPrice: bigint; newPrice: bigint }

/** Owner only; TX_REVERTED "NotDatasetOwner" / "DatasetDeleted" / "UnknownDataset" otherwise. */
export async function setDatasetPrice(
  { publicClient, walletClient }: WriteClients,
  params: SetDatasetPriceParameters,
): Promise<SetDatasetPriceReturnType> {
  assertDatasetId(params.id)
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: datasetRegistryAbi,
        functionName: 'setPrice',
        args: [params.id, params.pricePerQuery],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: datasetRegistryAbi, logs: receipt.logs, eventName: 'PriceChanged' })
      return {
        hash,
        blockNumber: receipt.blockNumber,
        id: params.id,
        oldPrice: event?.args.oldPrice ?? 0n,
        newPrice: event?.args.newPrice ?? params.pricePerQuery,
      }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
