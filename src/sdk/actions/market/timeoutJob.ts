import type { Address, Hash } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { timeoutJob as timeoutJobOnChain } from '../../../chain/portable.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'
import { walletFor } from '../../wallet.js'
import { getJob } from './getJob.js'
import { readTokenInfo, tokenAmount, type TokenAmount } from './token.js'

export type TimeoutJobParameters = { id: bigint }

export type TimeoutJobReturnType = {
  id: bigint
  hash: Hash
  /** The worker that missed its deadline, and the stake it lost. */
  lateWorker: Address
  penalty: TokenAmount
} & ({ outcome: 'reassigned'; worker: Address; deadline: number } | { outcome: 'refunded' })

/**
 * Anyone: ends the current attempt of a job whose deadline has passed. The late worker loses
 * part of its stake; the job goes once to another worker, or is refunded (credit and fee).
 * Refused before sending, saying when, while the deadline has not passed or the job is not open.
 */
export async function timeoutJob(client: W3aClient, params: TimeoutJobParameters): Promise<TimeoutJobReturnType> {
  const account = requireAccount(client, 'job timeout')
  const job = await getJob(client, { id: params.id })
  if (job.status !== 'open') throw new W3aError('INVALID_ARGUMENT', `job ${job.id} is ${job.status}: only an open job can time out`)
  const { network, publicClient } = await chainReader(client)
  const now = Number((await publicClient.getBlock({ blockTag: 'latest' })).timestamp)
  if (now <= job.deadline) {
    throw new W3aError('JOB_PENDING', `job ${job.id} is within its deadline (${new Date(job.deadline * 1000).toISOString()}, ${job.deadline - now} s from now)`, {
      details: ['Try again after the deadline.'],
    })
  }
  const r = await timeoutJobOnChain(walletFor(network, account), { jobs: network.contracts.jobs, jobId: job.id })
  const penalty = tokenAmount(r.slashed, await readTokenInfo(publicClient, network.chainId, network.contracts.token))
  const base = { id: job.id, hash: r.hash, lateWorker: r.lateWorker, penalty }
  return r.outcome === 'reassigned' ? { ...base, outcome: 'reassigned', worker: r.worker, deadline: r.deadline } : { ...base, outcome: 'refunded' }
}
