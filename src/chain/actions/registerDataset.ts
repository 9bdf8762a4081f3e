import { parseEventLogs, type Address, type Hex } from 'viem'
import { datasetRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertDatasetId } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type RegisterDatasetParameters = {
  /** DatasetRegistry address. */
  registry: Address
  /** Client-chosen bytes32 id (already bound into the encryption AAD). */
  id: Hex
  name: string
  /** CIDv1 (base32) of the encrypted manifest. */
  manifestCid: string
  schemaHash: Hex
  /** Token base units per query. */
  pricePerQuery: bigint
}

export type RegisterDatasetReturnType = WriteResult & { id: Hex; owner: Address }

/**
 * Registers a dataset owned by the wallet's account. Simulates first, so a duplicate id
 * fails with TX_REVERTED "DatasetExists" and nothing is sent.
 */
export async function registerDataset(
  { publicClient, walletClient }: WriteClients,
  params: RegisterDatasetParameters,
): Promise<RegisterDatasetReturnType> {
  assertDatasetId(params.id)
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: datasetRegistryAbi,
        functionName: 'register',
        args: [params.id, params.name, params.manifestCid, params.schemaHash, params.pricePerQuery],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: datasetRegistryAbi, logs: receipt.logs, eventName: 'DatasetRegistered' })
      return { hash, blockNumber: receipt.blockNumber, id: params.id, owner: event?.args.owner ?? walletClient.account.address }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
