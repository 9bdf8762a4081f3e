import { parseEventLogs, type Address, type Hex } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertBytes32 } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type DisallowMeasurementParameters = {
  /** WorkerRegistry address. */
  registry: Address
  /** Worker build measurement (sim: sha256 of the bundle; tdx: sha256(MRTD‖RTMR0‖RTMR1‖RTMR2); sgx: MRENCLAVE). */
  measurement: Hex
}

/** `changed` is false when the measurement was not allowed (the call is idempotent). */
export type DisallowMeasurementReturnType = WriteResult & { measurement: Hex; changed: boolean }

/** Governance only (TX_REVERTED "OwnableUnauthorizedAccount" otherwise): removes a build from the allow-list; its workers become ineligible at once. */
export async function disallowMeasurement({ publicClient, walletClient }: WriteClients, params: DisallowMeasurementParameters): Promise<DisallowMeasurementReturnType> {
  assertBytes32(params.measurement, 'measurement')
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'disallowMeasurement',
        args: [params.measurement],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const events = parseEventLogs({ abi: workerRegistryAbi, logs: receipt.logs, eventName: 'MeasurementDisallowed' })
      return { hash, blockNumber: receipt.blockNumber, measurement: params.measurement, changed: events.length > 0 }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
