import { erc20Abi, type Address } from 'viem'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type ApproveTokenParameters = {
  /** Any ERC-20 (the W3A token on dev networks). */
  token: Address
  /** Contract allowed to pull the tokens (e.g. the WorkerRegistry, for staking). */
  spender: Address
  /** Allowance in token base units (replaces the previous one). */
  amount: bigint
}

export type ApproveTokenReturnType = WriteResult

/** Sets the wallet account's allowance for `spender`. */
export async function approveToken({ publicClient, walletClient }: WriteClients, params: ApproveTokenParameters): Promise<ApproveTokenReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.token,
        abi: erc20Abi,
        functionName: 'approve',
        args: [params.spender, params.amount],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      return { hash, blockNumber: receipt.blockNumber }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
