import { parseEventLogs, type Address, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { datasetRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertBytes32, datasetIdFor } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type RegisterDatasetParameters = {
  /** DatasetRegistry address. */
  registry: Address
  /**
   * Random bytes32 chosen by the client. The id is `datasetIdFor(account, salt)`: compute it
   * first (it is bound into the encryption AAD), then register with the same salt.
   */
  salt: Hex
  name: string
  /** CIDv1 (base32) of the encrypted manifest. */
  manifestCid: string
  schemaHash: Hex
  /** Token base units per query. */
  pricePerQuery: bigint
  /** Register a pool (DatasetRegistry.registerPool): contributors' rows, royalties to them. */
  pool?: boolean
}

export type RegisterDatasetReturnType = WriteResult & { id: Hex; owner: Address }

/**
 * Registers a dataset owned by the wallet's account under `datasetIdFor(account, salt)`.
 * Simulates first, so a reused salt fails with TX_REVERTED "DatasetExists" and nothing is sent.
 */
export async function registerDataset(
  { publicClient, walletClient }: WriteClients,
  params: RegisterDatasetParameters,
): Promise<RegisterDatasetReturnType> {
  assertBytes32(params.salt, 'dataset salt')
  const owner = walletClient.account.address
  const id = datasetIdFor(owner, params.salt)
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: datasetRegistryAbi,
        functionName: params.pool === true ? 'registerPool' : 'register',
        args: [params.salt, params.name, params.manifestCid, params.schemaHash, params.pricePerQuery],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: datasetRegistryAbi, logs: receipt.logs, eventName: 'DatasetRegistered' })
      if (event !== undefined && (event.args.id !== id || event.args.owner !== owner)) {
        // Only possible if the contract at `registry` derives ids differently from datasetIdFor.
        throw new W3aError('INTERNAL', `registry ${params.registry} registered id ${event.args.id} for ${event.args.owner}, expected ${id} for ${owner}`)
      }
      return { hash, blockNumber: receipt.blockNumber, id, owner }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
