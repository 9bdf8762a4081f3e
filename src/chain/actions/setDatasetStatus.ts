import { parseEventLogs, type Address, type Hex } from 'viem'
import { datasetRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertDatasetId, statusFromUint, statusToUint, type DatasetStatus } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SetDatasetStatusParameters = {
  registry: Address
  id: Hex
  /** 'deleted' is final: no later change of any kind is accepted. */
  status: DatasetStatus
}

export type SetDatasetStatusReturnType = WriteResult & { id: Hex; previousStatus: DatasetStatus; status: DatasetStatus }

/** Owner only; TX_REVERTED "DatasetDeleted" once the dataset is deleted. */
export async function setDatasetStatus(
  { publicClient, walletClient }: WriteClients,
  params: SetDatasetStatusParameters,
): Promise<SetDatasetStatusReturnType> {
  assertDatasetId(params.id)
  const status = statusToUint(params.status)
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: datasetRegistryAbi,
        functionName: 'setStatus',
        args: [params.id, status],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: datasetRegistryAbi, logs: receipt.logs, eventName: 'StatusChanged' })
      return {
        hash,
        blockNumber: receipt.blockNumber,
        id: params.id,
        previousStatus: event === undefined ? params.status : statusFromUint(event.args.oldStatus),
        status: params.status,
      }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
