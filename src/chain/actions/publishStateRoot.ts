import type { Address, Hex } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertBytes32 } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type PublishStateRootParameters = {
  registry: Address
  /** At most the current epoch (TX_REVERTED "EpochInFuture"). */
  epoch: bigint
  /** Inbox entries replayed into this state (0..inboxCount-1). Never less than this keeper published before for the epoch. */
  inboxCount: bigint
  /** keccak256 of the canonical custody state encoding. */
  root: Hex
}

export type PublishStateRootReturnType = WriteResult & { epoch: bigint; inboxCount: bigint; root: Hex }

/** Sent by an active keeper (the wallet's account is the worker key); stored per (epoch, keeper). */
export async function publishStateRoot({ publicClient, walletClient }: WriteClients, params: PublishStateRootParameters): Promise<PublishStateRootReturnType> {
  assertBytes32(params.root, 'state root')
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'publishStateRoot',
        args: [params.epoch, params.inboxCount, params.root],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      return { hash, blockNumber: receipt.blockNumber, epoch: params.epoch, inboxCount: params.inboxCount, root: params.root }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
