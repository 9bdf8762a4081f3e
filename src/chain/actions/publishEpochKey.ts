import type { Address, Hex } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertBytes32 } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type PublishEpochKeyParameters = {
  registry: Address
  /** The current or the next epoch (TX_REVERTED "EpochTooFarAhead" beyond). */
  epoch: bigint
  /** The epoch's cluster HPKE public key (X25519, 32 bytes). */
  publicKey: Hex
}

export type PublishEpochKeyReturnType = WriteResult & { epoch: bigint; publicKey: Hex }

/**
 * Sent by an active keeper (the wallet's account is the worker key). The first publication sets
 * the epoch's key; later ones must match (TX_REVERTED "EpochKeyMismatch"). Non-keepers get "NotKeeper".
 */
export async function publishEpochKey({ publicClient, walletClient }: WriteClients, params: PublishEpochKeyParameters): Promise<PublishEpochKeyReturnType> {
  assertBytes32(params.publicKey, 'epoch public key')
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'publishEpochKey',
        args: [params.epoch, params.publicKey],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      return { hash, blockNumber: receipt.blockNumber, epoch: params.epoch, publicKey: params.publicKey }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
