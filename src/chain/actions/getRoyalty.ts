import type { Address, Hex, PublicClient } from 'viem'
import { jobsAbi } from '../abis.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf } from '../write.js'

export type GetRoyaltyParameters = { jobs: Address; jobId: bigint; /** with it: whether this contributor claimed, and its pool total so far */ contributor?: Address }
export type GetRoyaltyReturnType = { weightsRoot: Hex; totalWeight: bigint; amount: bigint; poolId: Hex; claimed?: boolean }

/** What a completed pool job keeps for its contributors (all zero: none). */
export async function getRoyalty(publicClient: PublicClient, params: GetRoyaltyParameters): Promise<GetRoyaltyReturnType> {
  return withChainErrors(
    async () => {
      const read = { address: params.jobs, abi: jobsAbi } as const
      const r = await publicClient.readContract({ ...read, functionName: 'royaltyOf', args: [params.jobId] })
      const out: GetRoyaltyReturnType = { weightsRoot: r.weightsRoot, totalWeight: r.totalWeight, amount: r.amount, poolId: r.poolId }
      if (params.contributor) out.claimed = await publicClient.readContract({ ...read, functionName: 'royaltyClaimed', args: [params.jobId, params.contributor] })
      return out
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
