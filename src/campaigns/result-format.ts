/**
 * A campaign's released result, as the aggregator's enclave signs it and anyone verifies it
 * (docs/formats.md, "Campaign results"). Public: it holds the DP aggregate (never one answer)
 * and the counted respondents' payout addresses (sorted), which the Merkle root on chain commits.
 *
 *   outputHash = keccak256(utf8(JSON of { columns, rows, privacy })), rows' integers as decimal strings
 *                (the zero hash when nothing is released: below the minimum)
 *   signature  = EIP-191 by the aggregator worker key over Campaigns.resultDigest
 *
 * No Node built-in: browsers verify with this file as is.
 */
import { keccak256, recoverMessageAddress, stringToHex, type Address, type Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import { campaignResultDigest, type Campaign } from '../chain/campaigns.js'
import { EMPTY_ROOT, payoutRoot } from './payout-tree.js'

export type CampaignOutput = {
  columns: { name: string; type: string }[]
  rows: (string | number | null)[][]
  privacy: { epsilon: number; mechanism: string; noiseScale: Record<string, number>; k: number }
}

export type CampaignResult = {
  v: 1
  chainId: number
  campaigns: Address
  campaignId: string
  paramsHash: Hex
  aggregator: Address
  /** Answers that counted (the first maxRespondents distinct tokens and payout addresses). */
  counted: number
  /** False below the minimum: no output, no payouts, the analyst is refunded. */
  released: boolean
  output: CampaignOutput | null
  payouts: Address[]
  outputHash: Hex
  payoutRoot: Hex
  signature: Hex
}

export const ZERO_HASH: Hex = `0x${'00'.repeat(32)}`

/** Rows' bigints as decimal strings, so the JSON (and its hash) is one text everywhere. */
export function campaignOutputOf(g: { columns: { name: string; type: string }[]; rows: unknown[][] }, privacy: CampaignOutput['privacy']): CampaignOutput {
  const cell = (v: unknown): string | number | null => (typeof v === 'bigint' ? v.toString() : typeof v === 'number' || typeof v === 'string' ? v : null)
  return { columns: g.columns.map((c) => ({ name: c.name, type: c.type })), rows: g.rows.map((r) => r.map(cell)), privacy }
}

export function campaignOutputHash(output: CampaignOutput | null): Hex {
  if (output === null) return ZERO_HASH
  const canonical = { columns: output.columns, rows: output.rows, privacy: { epsilon: output.privacy.epsilon, mechanism: output.privacy.mechanism, noiseScale: output.privacy.noiseScale, k: output.privacy.k } }
  return keccak256(stringToHex(JSON.stringify(canonical)))
}

/**
 * Checks a result against the campaign on chain: the aggregator's signature over the digest, the
 * output and payout list against their hashes, and (once posted) the counts and root the contract
 * holds. INPUT_MALFORMED naming the first mismatch.
 */
export async function verifyCampaignResult(r: CampaignResult, c: Campaign, d: { chainId: number; campaigns: Address }): Promise<void> {
  const bad = (what: string): never => {
    throw new W3aError('INPUT_MALFORMED', `the result of campaign ${c.id} does not verify: ${what}`)
  }
  if (r.chainId !== d.chainId || r.campaigns.toLowerCase() !== d.campaigns.toLowerCase() || r.campaignId !== c.id.toString()) bad('it is for another campaign')
  if (r.paramsHash !== c.paramsHash) bad('its terms differ from the campaign on chain')
  if (campaignOutputHash(r.output) !== r.outputHash) bad('the output does not match its hash')
  if ((r.released ? payoutRoot(c.id, r.payouts) : EMPTY_ROOT) !== r.payoutRoot) bad('the payout list does not match its root')
  if (r.released !== r.counted >= c.minRespondents || (r.released && r.payouts.length !== r.counted)) bad('its counts are inconsistent')
  const digest = campaignResultDigest({ ...d, campaignId: c.id, paramsHash: c.paramsHash, outputHash: r.outputHash, counted: r.counted, payoutRoot: r.payoutRoot })
  const signer = await recoverMessageAddress({ message: { raw: digest }, signature: r.signature }).catch(() => bad('the signature is malformed'))
  if (signer.toLowerCase() !== c.aggregator.toLowerCase()) bad(`it is signed by ${signer}, not the campaign's aggregator ${c.aggregator}`)
  if (c.status === 'released' && (c.outputHash !== r.outputHash || c.payoutRoot !== r.payoutRoot || c.counted !== r.counted)) bad('it is not the result posted on chain')
  if (c.status === 'below-minimum' && (r.released || c.counted !== r.counted)) bad('it is not the result posted on chain')
}
