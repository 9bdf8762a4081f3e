import { parseEventLogs, size, type Address, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { custodyInboxAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

/** CustodyInbox.MAX_CIPHERTEXT_BYTES. */
export const MAX_CUSTODY_CIPHERTEXT_BYTES = 16 * 1024

export type PostCustodyCommandParameters = {
  /** CustodyInbox address. */
  inbox: Address
  /** Epoch whose cluster key sealed the ciphertext. */
  epoch: bigint
  /** HPKE ciphertext of the command envelope (1 byte .. 16 KiB). */
  ciphertext: Hex
}

export type PostCustodyCommandReturnType = WriteResult & {
  /** The entry's position in the inbox. */
  index: bigint
  /** Hash chain head after the entry. */
  head: Hex
}

/** Appends an encrypted custody command; anyone may post (keepers check the signature inside). */
export async function postCustodyCommand(
  { publicClient, walletClient }: WriteClients,
  params: PostCustodyCommandParameters,
): Promise<PostCustodyCommandReturnType> {
  if (!/^0x[0-9a-fA-F]*$/.test(params.ciphertext) || params.ciphertext.length % 2 !== 0) {
    throw new W3aError('INVALID_ARGUMENT', 'ciphertext must be an even-length 0x hex string')
  }
  const bytes = size(params.ciphertext)
  if (bytes === 0 || bytes > MAX_CUSTODY_CIPHERTEXT_BYTES) {
    throw new W3aError('INVALID_ARGUMENT', `ciphertext must be 1 to ${MAX_CUSTODY_CIPHERTEXT_BYTES} bytes, got ${bytes}`)
  }
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.inbox,
        abi: custodyInboxAbi,
        functionName: 'post',
        args: [params.epoch, params.ciphertext],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: custodyInboxAbi, logs: receipt.logs, eventName: 'CommandPosted' })
      if (event === undefined) throw new W3aError('CHAIN_ERROR', `post to ${params.inbox} emitted no CommandPosted event (tx ${hash})`)
      return { hash, blockNumber: receipt.blockNumber, index: event.args.index, head: event.args.head }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
