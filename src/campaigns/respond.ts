/**
 * What a respondent's device does for one campaign (the agent, `w3a agent`, and the SDK's
 * answerCampaign): check the campaign against the consent rules, check the function's source
 * against the hash on chain, run it in the same QuickJS sandbox the workers use over the
 * device's own rows, and seal only the typed answer to the aggregator's attested key. The rows
 * never leave this function; what leaves is the envelope.
 *
 * No Node built-in: browsers use this file as is.
 */
import type { Address, Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import { functionHash } from '../analysis/analysis-request.js'
import { parseOutputSpec } from '../analysis/unit-function/output-type.js'
import { openUnitFunction, type UnitRow } from '../analysis/unit-function/sandbox.js'
import type { Campaign } from '../chain/campaigns.js'
import { answerOf, answerToken, sealAnswer, type AnswerEnvelope, type AnswerValue } from './answer-format.js'
import { requireConsent, type ConsentRules } from './consent.js'

export type PrepareAnswerParameters = {
  chainId: number
  campaigns: Address
  campaign: Campaign
  /** The aggregator's attested HPKE key (the caller verified its quote). */
  aggregatorKey: Hex
  /** The function's source, fetched from campaign.functionCid; checked against campaign.functionHash here. */
  source: string
  rows: readonly UnitRow[]
  rules: ConsentRules
  deviceSecret: Uint8Array
  payout: Address
  /** Unix seconds now (the campaign must still be open). */
  now: number
}

export type PreparedAnswer = { envelope: AnswerEnvelope; answer: AnswerValue; token: Hex }

export async function prepareAnswer(p: PrepareAnswerParameters): Promise<PreparedAnswer> {
  const c = p.campaign
  if (c.status !== 'open' || BigInt(p.now) >= c.deadline) throw new W3aError('CAMPAIGN_CLOSED', `campaign ${c.id} takes no more answers (${c.status}, deadline ${new Date(Number(c.deadline) * 1000).toISOString()})`)
  requireConsent(p.rules, c)
  if (functionHash(p.source).toLowerCase() !== c.functionHash.toLowerCase()) {
    throw new W3aError('INPUT_MALFORMED', `the function source fetched from ${c.functionCid} does not have the campaign's function hash`, { details: ['Nothing was computed or sent.'] })
  }
  const output = parseOutputSpec(c.output)
  const fn = await openUnitFunction({ source: p.source, output })
  const answer = answerOf(output, await fn.run(p.rows))
  if (answer === null) throw new W3aError('ANSWER_REFUSED', `your data gives none of the campaign's categories (${c.output}): nothing to send`)
  const domain = { chainId: p.chainId, campaigns: p.campaigns, campaignId: c.id }
  const token = answerToken(p.deviceSecret, domain)
  const envelope = await sealAnswer({ campaignId: c.id, paramsHash: c.paramsHash, aggregatorKey: p.aggregatorKey, plaintext: { v: 1, token, payout: p.payout, answer } })
  return { envelope, answer, token }
}
