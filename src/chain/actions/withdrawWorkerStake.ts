import { parseEventLogs, type Address } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type WithdrawWorkerStakeParameters = {
  registry: Address
  worker: Address
}

export type WithdrawWorkerStakeReturnType = WriteResult & { worker: Address; /** Token base units returned. */ amount: bigint }

/** Operator only, after requestWorkerExit and the delay (TX_REVERTED "ExitDelayNotOver" before). */
export async function withdrawWorkerStake(
  { publicClient, walletClient }: WriteClients,
  params: WithdrawWorkerStakeParameters,
): Promise<WithdrawWorkerStakeReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'withdrawStake',
        args: [params.worker],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: workerRegistryAbi, logs: receipt.logs, eventName: 'StakeWithdrawn' })
      return { hash, blockNumber: receipt.blockNumber, worker: params.worker, amount: event?.args.amount ?? 0n }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
