import type { Address, Hex } from 'viem'
import { claimRoyalties, getRoyalty, jobsAbi, royaltyProof, verifyRoyaltyProof, type RoyaltyClaim } from '../../../chain/portable.js'
import { W3aError, isW3aError } from '../../../core/errors.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'
import { walletFor } from '../../wallet.js'
import { verifyJob } from '../analysis/verifyJob.js'
import { listJobs } from '../market/listJobs.js'

export type PoolRoyalty = { jobId: bigint; pool: Hex; weight: bigint; totalWeight: bigint; amount: bigint; claimed: boolean; proof: Hex[] }
export type PoolRoyaltiesParameters = { account?: Address; pool?: Hex }
export type PoolRoyaltiesReturnType = {
  account: Address
  jobs: PoolRoyalty[]
  /** Per pool: claimed so far (on chain) and still to claim. */
  pools: { pool: Hex; claimed: bigint; unclaimed: bigint }[]
  /** Pool jobs whose worker could not be reached for its weight list (try again later). */
  unreachable: bigint[]
}

/**
 * A contributor's royalties: for each completed pool job, its weight in the worker's signed
 * weight list (each result verified: signature, attestation, and the list making the signed
 * root the contract holds), its share `amount × weight / totalWeight`, and whether it took it.
 */
export async function getPoolRoyalties(client: W3aClient, params: PoolRoyaltiesParameters = {}): Promise<PoolRoyaltiesReturnType> {
  const account = params.account ?? requireAccount(client, 'earnings').address
  const { network, publicClient } = await chainReader(client)
  const jobsAddress = network.contracts.jobs
  const done = (await listJobs(client, { status: 'completed', ...(params.pool ? { datasetId: params.pool } : {}) })).filter((j) => j.pool)
  const out: PoolRoyalty[] = []
  const unreachable: bigint[] = []
  for (const job of done) {
    let envelope
    try {
      ;({ envelope } = await verifyJob(client, { id: job.id }))
    } catch (e) {
      // A worker offline now: its job's royalties wait (nothing is lost on chain); a result that does not verify is an error.
      if (!isW3aError(e, 'WORKER_UNREACHABLE')) throw e
      unreachable.push(job.id)
      continue
    }
    const weights = envelope.status === 'completed' ? (envelope.royalties?.weights ?? []).map((w) => ({ contributor: w.contributor as Address, weight: BigInt(w.weight) })) : []
    const mine = royaltyProof(weights, account)
    if (!mine) continue
    const r = await getRoyalty(publicClient, { jobs: jobsAddress, jobId: job.id, contributor: account })
    if (!verifyRoyaltyProof(r.weightsRoot, { contributor: account, weight: mine.weight }, mine.proof)) throw new W3aError('RESULT_INVALID', `job ${job.id}: the worker's weight list does not make the root on chain`)
    out.push({ jobId: job.id, pool: job.datasetId, weight: mine.weight, totalWeight: r.totalWeight, amount: (r.amount * mine.weight) / r.totalWeight, claimed: r.claimed ?? false, proof: mine.proof })
  }
  const poolIds = [...new Set(out.map((r) => r.pool.toLowerCase() as Hex))]
  const pools = await Promise.all(
    poolIds.map(async (pool) => ({
      pool,
      claimed: await publicClient.readContract({ address: jobsAddress, abi: jobsAbi, functionName: 'royaltiesOf', args: [pool, account] }),
      unclaimed: out.filter((r) => r.pool.toLowerCase() === pool && !r.claimed).reduce((s, r) => s + r.amount, 0n),
    })),
  )
  return { account, jobs: out, pools, unreachable }
}

export type ClaimPoolRoyaltiesParameters = { pool?: Hex }
export type ClaimPoolRoyaltiesReturnType = { amount: bigint; jobs: bigint[]; hash?: Hex }

/** Takes every unclaimed royalty of the account (one transaction, proofs from the verified results); `claimEarnings` then withdraws. */
export async function claimPoolRoyalties(client: W3aClient, params: ClaimPoolRoyaltiesParameters = {}): Promise<ClaimPoolRoyaltiesReturnType> {
  const account = requireAccount(client, 'claim')
  const { jobs } = await getPoolRoyalties(client, { account: account.address, ...(params.pool ? { pool: params.pool } : {}) })
  const open = jobs.filter((j) => !j.claimed && j.amount > 0n)
  if (open.length === 0) return { amount: 0n, jobs: [] }
  const network = await client.network()
  const claims: RoyaltyClaim[] = open.map((j) => ({ jobId: j.jobId, weight: j.weight, proof: j.proof }))
  const r = await claimRoyalties(walletFor(network, account), { jobs: network.contracts.jobs, claims })
  return { amount: r.amount, jobs: open.map((j) => j.jobId), hash: r.hash }
}
