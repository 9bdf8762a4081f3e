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
 * An active keeper's vote for the epoch's key (the wallet's account is the worker key). The key
 * becomes the epoch's agreed key (`getEpochKey`) once a strict majority of the active keepers voted
 * for it; a keeper votes once per epoch (TX_REVERTED "AlreadyVoted"). Non-keepers get "NotKeeper".
 * Workers do not use this action: their enclave builds and signs the vote itself (`signOwnTx`).
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
