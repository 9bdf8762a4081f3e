/**
 * The gateway's campaign routes (docs/campaigns.md). It relays ciphertext and public data only:
 *   POST /api/v1/campaigns/:id/answers   a sealed answer (src/campaigns/answer-format.ts) → the
 *                                        campaign's aggregator worker, as the chain names it
 *   GET  /api/v1/campaigns/:id/result    the aggregator's signed result (the SDK verifies it
 *                                        against the chain: signature, hashes, root)
 * The gateway cannot open an answer (sealed to the aggregator's attested key) nor forge a result.
 */
import type { Address } from 'viem'
import { W3aError } from '../core/errors.js'
import { getCampaign, getWorker, type ChainPublicClient } from '../chain/index.js'
import { MAX_ANSWER_ENVELOPE_CHARS } from '../campaigns/answer-format.js'
import { readJsonBody } from './http-body.js'
import { errorResponse } from './http-json.js'

const ROUTE = /^\/api\/v1\/campaigns\/(0|[1-9][0-9]{0,30})\/(answers|result)$/
const CORS = { 'access-control-allow-origin': '*' }

export function createCampaignRelay(p: { publicClient: ChainPublicClient; campaigns: Address | undefined; registry: Address }): (req: Request, pathname: string) => Promise<Response | null> {
  const aggregatorUrl = async (id: bigint): Promise<string> => {
    if (!p.campaigns) throw new W3aError('CAMPAIGN_NOT_FOUND', 'this network has no Campaigns contract')
    const c = await getCampaign(p.publicClient, { campaigns: p.campaigns, campaignId: id }).catch((cause) => {
      throw new W3aError('CAMPAIGN_NOT_FOUND', `campaign ${id} does not exist on this network`, { cause })
    })
    const w = await getWorker(p.publicClient, { registry: p.registry, worker: c.aggregator })
    return w.endpoint.replace(/\/+$/, '')
  }
  const relay = async (url: string, init: RequestInit): Promise<Response> => {
    const res = await fetch(url, init).catch((cause) => {
      throw new W3aError('WORKER_UNREACHABLE', 'the campaign aggregator does not answer', { cause })
    })
    return new Response(await res.text(), { status: res.status, headers: { 'content-type': 'application/json; charset=utf-8', ...CORS } })
  }
  return async (req, pathname) => {
    const m = ROUTE.exec(pathname)
    if (!m) return null
    try {
      const id = BigInt(m[1]!)
      if (m[2] === 'answers' && req.method === 'POST') {
        const envelope = (await readJsonBody(req, MAX_ANSWER_ENVELOPE_CHARS * 2)) as { campaignId?: unknown } | null
        if (envelope?.campaignId !== m[1]) throw new W3aError('ANSWER_REFUSED', 'the answer envelope names another campaign than the route')
        return await relay(`${await aggregatorUrl(id)}/v1/campaigns/answers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope) })
      }
      if (m[2] === 'result' && req.method === 'GET') return await relay(`${await aggregatorUrl(id)}/v1/campaigns/${id}/result`, {})
      return null
    } catch (e) {
      return errorResponse(e)
    }
  }
}
