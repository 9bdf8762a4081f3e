import { encodeAbiParameters, keccak256, stringToHex, type Address, type Hex } from 'viem'

// Byte-level helpers of the campaigns protocol (contracts/Campaigns.sol). paramsHash and
// resultDigest match the contract byte for byte (test/campaign.test.ts checks them against it);
// the aggregator's enclave signs resultDigest with EIP-191, which the contract checks with ecrecover.

/** Order matches `Campaigns.Status` (None = 0, Open = 1, …). */
export const CAMPAIGN_STATUSES = ['none', 'open', 'released', 'below-minimum', 'expired'] as const
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number]

/** What a campaign's answers and result are bound to: the chain, the contract, the id. */
export type CampaignDomain = { chainId: number; campaigns: Address; campaignId: bigint }

/** The terms the analyst posted and the aggregator the contract assigned (all public). */
export type CampaignTerms = {
  analyst: Address
  aggregator: Address
  functionHash: Hex
  functionCid: string
  /** The declared answer type, e.g. "category:male,female". */
  output: string
  purpose: string
  rewardPerAnswer: bigint
  minRespondents: number
  maxRespondents: number
  k: number
  epsilonMicros: bigint
  /** Unix seconds; answers are taken until then, the result only after. */
  deadline: bigint
}

/** A campaign as the contract stores it. */
export type Campaign = CampaignTerms & {
  id: bigint
  status: CampaignStatus
  createdAt: bigint
  counted: number
  paramsHash: Hex
  outputHash: Hex
  payoutRoot: Hex
  claims: number
}

type CampaignStruct = {
  analyst: Address
  status: number
  createdAt: bigint
  deadline: bigint
  aggregator: Address
  minRespondents: number
  maxRespondents: number
  k: number
  counted: number
  epsilonMicros: bigint
  rewardPerAnswer: bigint
  functionHash: Hex
  paramsHash: Hex
  outputHash: Hex
  payoutRoot: Hex
  claims: number
  functionCid: string
  output: string
  purpose: string
}

export function campaignFromStruct(id: bigint, c: CampaignStruct): Campaign {
  return {
    id,
    analyst: c.analyst,
    aggregator: c.aggregator,
    status: CAMPAIGN_STATUSES[c.status] ?? 'none',
    createdAt: c.createdAt,
    deadline: c.deadline,
    functionHash: c.functionHash,
    functionCid: c.functionCid,
    output: c.output,
    purpose: c.purpose,
    rewardPerAnswer: c.rewardPerAnswer,
    minRespondents: c.minRespondents,
    maxRespondents: c.maxRespondents,
    k: c.k,
    epsilonMicros: c.epsilonMicros,
    counted: c.counted,
    paramsHash: c.paramsHash,
    outputHash: c.outputHash,
    payoutRoot: c.payoutRoot,
    claims: c.claims,
  }
}

const text = (s: string): Hex => keccak256(stringToHex(s))

/** Campaigns.paramsHashOf: what answers are sealed under and the result is signed over. */
export function campaignParamsHash(d: CampaignDomain, t: CampaignTerms): Hex {
  const who = keccak256(
    encodeAbiParameters(
      [{ type: 'address' }, { type: 'address' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }],
      [t.analyst, t.aggregator, t.functionHash, text(t.functionCid), text(t.output), text(t.purpose)],
    ),
  )
  const terms = keccak256(
    encodeAbiParameters(
      [{ type: 'uint256' }, { type: 'uint32' }, { type: 'uint32' }, { type: 'uint32' }, { type: 'uint64' }, { type: 'uint64' }],
      [t.rewardPerAnswer, t.minRespondents, t.maxRespondents, t.k, t.epsilonMicros, t.deadline],
    ),
  )
  return keccak256(
    encodeAbiParameters(
      [{ type: 'string' }, { type: 'uint256' }, { type: 'address' }, { type: 'uint256' }, { type: 'bytes32' }, { type: 'bytes32' }],
      ['w3a.campaign.v1', BigInt(d.chainId), d.campaigns, d.campaignId, who, terms],
    ),
  )
}

/** Campaigns.resultDigest: what the aggregator signs (EIP-191) to post its result. */
export function campaignResultDigest(d: CampaignDomain & { paramsHash: Hex; outputHash: Hex; counted: number; payoutRoot: Hex }): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'string' }, { type: 'uint256' }, { type: 'address' }, { type: 'uint256' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint32' }, { type: 'bytes32' }],
      ['w3a.campaign-result.v1', BigInt(d.chainId), d.campaigns, d.campaignId, d.paramsHash, d.outputHash, d.counted, d.payoutRoot],
    ),
  )
}
