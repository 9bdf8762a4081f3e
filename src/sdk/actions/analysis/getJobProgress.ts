import { getWorker } from '../../../chain/portable.js'
import type { W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'

export type GetJobProgressParameters = { id: bigint; worker: `0x${string}` }

/** What the assigned worker's host says it is doing with an open job (its word only: no data, nothing signed). */
export type GetJobProgressReturnType =
  | { reachable: true; state: string; note?: string; since: number }
  | { reachable: false; why: string }

/**
 * Asks the job's worker (GET /v1/jobs/{id}/status on its registered endpoint) how far an open
 * job is: queued, waiting for a keeper's release, running. Never throws for an unreachable or
 * silent worker: that is itself the answer (the job will time out and be reassigned or refunded).
 */
export async function getJobProgress(client: W3aClient, params: GetJobProgressParameters): Promise<GetJobProgressReturnType> {
  const { network, publicClient } = await chainReader(client)
  try {
    const w = await getWorker(publicClient, { registry: network.contracts.workerRegistry, worker: params.worker })
    const res = await fetch(`${w.endpoint.replace(/\/+$/, '')}/v1/jobs/${params.id}/status`, { signal: AbortSignal.timeout(5_000) })
    if (res.status === 404) return { reachable: false, why: 'the worker has not picked the job up' }
    if (!res.ok) return { reachable: false, why: `the worker answered HTTP ${res.status}` }
    const body = (await res.json()) as { state?: unknown; note?: unknown; since?: unknown }
    if (typeof body.state !== 'string' || typeof body.since !== 'number') return { reachable: false, why: 'the worker sent no status' }
    return { reachable: true, state: body.state.slice(0, 40), ...(typeof body.note === 'string' ? { note: body.note.slice(0, 200) } : {}), since: body.since }
  } catch (e) {
    return { reachable: false, why: `the worker is unreachable (${(e as Error).message})` }
  }
}
