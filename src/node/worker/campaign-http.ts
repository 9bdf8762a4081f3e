/**
 * The aggregator worker's campaign routes (the gateway relays to them, campaign-relay.ts):
 *   POST /v1/campaigns/answers        a sealed answer envelope → the enclave; 200 once durable
 *   GET  /v1/campaigns/:id/result     the signed result (public), once released
 * The host sees ciphertext and the enclave's accept or refuse, nothing else.
 */
import type { Address } from 'viem'
import { W3aError } from '../../core/errors.js'
import { MAX_ANSWER_ENVELOPE_CHARS } from '../../campaigns/answer-format.js'
import { errorResponse, json } from '../http-json.js'
import { readJsonBody } from '../http-body.js'
import type { EnclaveCaller } from './enclave-caller.js'
import type { CampaignLoop } from './campaign-loop.js'

const RESULT = /^\/v1\/campaigns\/(0|[1-9][0-9]{0,30})\/result$/

export function createCampaignHttp(p: { caller: EnclaveCaller; campaigns: Address; loop: CampaignLoop }): (req: Request, pathname: string) => Promise<Response | null> {
  return async (req, pathname) => {
    try {
      if (req.method === 'POST' && pathname === '/v1/campaigns/answers') {
        const envelope = (await readJsonBody(req, MAX_ANSWER_ENVELOPE_CHARS * 2)) as { campaignId?: unknown } | null
        if (typeof envelope?.campaignId !== 'string' || !/^(0|[1-9][0-9]{0,30})$/.test(envelope.campaignId)) throw new W3aError('ANSWER_REFUSED', 'the answer envelope names no campaign id')
        await p.loop.ensureOpen(BigInt(envelope.campaignId))
        return json(await p.caller.call('campaignAnswer', { campaigns: p.campaigns, envelope }))
      }
      const m = req.method === 'GET' ? RESULT.exec(pathname) : null
      if (m) {
        const r = p.loop.result(BigInt(m[1]!))
        if (!r) throw new W3aError('CAMPAIGN_PENDING', `campaign ${m[1]} has no released result on this aggregator yet`)
        return json(r)
      }
      return null
    } catch (e) {
      return errorResponse(e)
    }
  }
}
