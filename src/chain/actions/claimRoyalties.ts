import { parseEventLogs, type Address, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { jobsAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type RoyaltyClaim = { jobId: bigint; weight: bigint; proof: Hex[] }
export type ClaimRoyaltiesParameters = { jobs: Address; claims: RoyaltyClaim[] }
export type ClaimRoyaltiesReturnType = WriteResult & { amount: bigint; perJob: { jobId: bigint; poolId: Hex; amount: bigint }[] }

/**
 * Takes the wallet's royalties of pool jobs (Jobs.claimRoyalties): per job its weight and the
 * proof of its leaf (royalty-tree.ts). They accrue to its earnings (claimEarnings withdraws).
 * NoRoyalty, RoyaltyAlreadyClaimed, BadRoyaltyProof fail with TX_REVERTED, nothing sent.
 */
export async function claimRoyalties({ publicClient, walletClient }: WriteClients, params: ClaimRoyaltiesParameters): Promise<ClaimRoyaltiesReturnType> {
  if (params.claims.length === 0) throw new W3aError('INVALID_ARGUMENT', 'no royalty to claim')
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.jobs,
        abi: jobsAbi,
        functionName: 'claimRoyalties',
        args: [params.claims.map((c) => c.jobId), params.claims.map((c) => c.weight), params.claims.map((c) => c.proof)],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      const events = parseEventLogs({ abi: jobsAbi, logs: receipt.logs, eventName: 'RoyaltyClaimed' })
      const perJob = events.map((e) => ({ jobId: e.args.jobId, poolId: e.args.poolId, amount: e.args.amount }))
      return { hash, blockNumber: receipt.blockNumber, amount: perJob.reduce((s, e) => s + e.amount, 0n), perJob }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
