import { CID } from 'multiformats/cid'
import type { Address, Hex } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { getWorker } from '../../../chain/portable.js'
import type { UnitRow } from '../../../analysis/unit-function/sandbox.js'
import type { AnswerValue } from '../../../campaigns/answer-format.js'
import type { ConsentRules } from '../../../campaigns/consent.js'
import { requireConsent } from '../../../campaigns/consent.js'
import { prepareAnswer } from '../../../campaigns/respond.js'
import { verifyBlock } from '../../../storage/verify-block.js'
import type { W3aClient } from '../../client.js'
import { networkTeePolicy, verifyKeeperKey } from '../../worker-attestation.js'
import { campaignsReader, readCampaign } from './campaign-reader.js'

export type AnswerCampaignParameters = {
  id: bigint
  /** The device's own rows (they never leave this call). */
  rows: readonly UnitRow[]
  rules: ConsentRules
  /** The device's secret (≥ 32 bytes, kept on the device): its one-time token per campaign comes from it. */
  deviceSecret: Uint8Array
  /** Where the reward is paid (anyone may send the claim; a fresh address per campaign links nothing). */
  payout: Address
}

export type AnswerCampaignReturnType = { id: bigint; answer: AnswerValue; token: Hex; aggregator: Address }

/**
 * Answers a campaign from this device: the consent rules first (nothing fetched or run when they
 * refuse), then the aggregator's key checked against its attested quote, the function's source
 * fetched and checked against its CID and the campaign's hash, run in the sandbox over `rows`,
 * and only the sealed answer sent through the gateway. Resolves once the aggregator's enclave has
 * logged it durably; ANSWER_REFUSED when it did not count (e.g. this device already answered).
 */
export async function answerCampaign(client: W3aClient, p: AnswerCampaignParameters): Promise<AnswerCampaignReturnType> {
  const { publicClient, campaigns, chainId, registry } = await campaignsReader(client)
  const c = await readCampaign(publicClient, campaigns, p.id)
  requireConsent(p.rules, c)
  const worker = await getWorker(publicClient, { registry, worker: c.aggregator })
  const policy = await networkTeePolicy(publicClient, registry)
  await verifyKeeperKey({ keeper: { address: worker.address, endpoint: worker.endpoint, hpkePublicKey: worker.hpkePublicKey, attestationHash: worker.attestationHash, registeredAt: worker.registeredAt }, policy, chainId, registry })
  let cid: CID
  try {
    cid = CID.parse(c.functionCid)
  } catch {
    throw new W3aError('INPUT_MALFORMED', `campaign ${c.id}'s functionCid "${c.functionCid}" is not a CID`)
  }
  const bytes = await client.gateway.getBytes(`/ipfs/${cid}?format=raw`, 'application/vnd.ipld.raw')
  await verifyBlock(cid, bytes)
  const prepared = await prepareAnswer({
    chainId,
    campaigns,
    campaign: c,
    aggregatorKey: worker.hpkePublicKey,
    source: new TextDecoder().decode(bytes),
    rows: p.rows,
    rules: p.rules,
    deviceSecret: p.deviceSecret,
    payout: p.payout,
    now: Math.floor(Date.now() / 1000),
  })
  await client.gateway.sendJson(`/api/v1/campaigns/${c.id}/answers`, prepared.envelope)
  return { id: c.id, answer: prepared.answer, token: prepared.token, aggregator: c.aggregator }
}
