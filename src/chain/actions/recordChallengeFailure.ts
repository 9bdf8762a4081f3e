import { parseEventLogs, type Address, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { storageMarketAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import type { StorageChallenge } from '../storage-digests.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type RecordChallengeFailureParameters = {
  storageMarket: Address
  challenge: StorageChallenge
  /** The challenger's worker key's signature from signChallenge (EIP-191 over challengeDigest). */
  signature: Hex
}

export type RecordChallengeFailureReturnType = WriteResult & {
  challenger: Address
  /** Stake taken from the node (0 when its stake is gone or the penalty failed). */
  slashed: bigint
  /** The node's failures on this order, this one included. */
  failures: number
  /** Set when this failure removed the node from the order. */
  removed: boolean
  /** The replacement nodes assigned (empty when none was found: the order is under-replicated). */
  replacements: Address[]
}

/**
 * Posts a failed challenge (any account may send it). InvalidChallengeReason, BadChallengeTimes,
 * ChallengeDeadlineNotPassed, ChallengeEraOutOfWindow, NodeNotAssigned, ChallengeEndpointMismatch
 * (the challenge names another endpoint than the node's registered one), BadChallengeSignature,
 * ChallengerNotEligible, SameOperatorChallenger, FailureAlreadyRecorded.
 */
export async function recordChallengeFailure({ publicClient, walletClient }: WriteClients, params: RecordChallengeFailureParameters): Promise<RecordChallengeFailureReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.storageMarket,
        abi: storageMarketAbi,
        functionName: 'recordChallengeFailure',
        args: [params.challenge, params.signature],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const logs = parseEventLogs({ abi: storageMarketAbi, logs: receipt.logs })
      const failed = logs.find((l) => l.eventName === 'ChallengeFailed')
      if (failed?.eventName !== 'ChallengeFailed') throw new W3aError('CHAIN_ERROR', `recordChallengeFailure transaction ${hash} emitted no ChallengeFailed event`)
      return {
        hash,
        blockNumber: receipt.blockNumber,
        challenger: failed.args.challenger,
        slashed: failed.args.slashed,
        failures: failed.args.failures,
        removed: logs.some((l) => l.eventName === 'OrderNodeRemoved'),
        replacements: logs.flatMap((l) => (l.eventName === 'OrderAssigned' ? [l.args.node] : [])),
      }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
