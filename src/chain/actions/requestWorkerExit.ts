import { parseEventLogs, type Address } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type RequestWorkerExitParameters = {
  registry: Address
  worker: Address
}

export type RequestWorkerExitReturnType = WriteResult & {
  worker: Address
  /** Unix seconds from which withdrawWorkerStake succeeds. */
  withdrawableAt: number
}

/** Operator only: the worker stops being eligible at once; the stake is withdrawable after the heartbeat timeout. */
export async function requestWorkerExit(
  { publicClient, walletClient }: WriteClients,
  params: RequestWorkerExitParameters,
): Promise<RequestWorkerExitReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'requestExit',
        args: [params.worker],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: workerRegistryAbi, logs: receipt.logs, eventName: 'ExitRequested' })
      return { hash, blockNumber: receipt.blockNumber, worker: params.worker, withdrawableAt: Number(event?.args.withdrawableAt ?? 0n) }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
