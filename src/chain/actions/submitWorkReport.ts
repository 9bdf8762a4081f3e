import { parseEventLogs, type Address, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { storageMarketAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import type { WorkReport } from '../storage-digests.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SubmitWorkReportParameters = {
  storageMarket: Address
  report: WorkReport
  /** The node's worker key's signature from signWorkReport (EIP-191 over workReportDigest). */
  signature: Hex
}

export type SubmitWorkReportReturnType = WriteResult & {
  /** How many of the listed orders the report proved (0 when blocksFailed > 0). */
  proved: bigint
}

/**
 * Posts a node's signed work report (any account may send it). ReportEraOutOfWindow (only the
 * current or previous era), UnknownNode, WorkerNotEligible, AlreadyReported, BadReportSignature,
 * TooManyReportOrders.
 */
export async function submitWorkReport({ publicClient, walletClient }: WriteClients, params: SubmitWorkReportParameters): Promise<SubmitWorkReportReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.storageMarket,
        abi: storageMarketAbi,
        functionName: 'submitWorkReport',
        args: [{ ...params.report, orderIds: [...params.report.orderIds] }, params.signature],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: storageMarketAbi, logs: receipt.logs, eventName: 'WorkReportAccepted' })
      if (event === undefined) throw new W3aError('CHAIN_ERROR', `submitWorkReport transaction ${hash} emitted no WorkReportAccepted event`)
      return { hash, blockNumber: receipt.blockNumber, proved: event.args.proved }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
