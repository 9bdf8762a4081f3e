import * as raw from 'multiformats/codecs/raw'
import { parseUnits, stringToBytes, type Address, type Hash, type Hex } from 'viem'
import { W3aError, isW3aError } from '../../../core/errors.js'
import { functionHash, MAX_FUNCTION_CHARS } from '../../../analysis/analysis-request.js'
import { parseOutputSpec, formatOutputSpec } from '../../../analysis/unit-function/output-type.js'
import { checkFunctionSource } from '../../../analysis/unit-function/sandbox.js'
import { createCampaign as createCampaignOnChain } from '../../../chain/portable.js'
import { carOfBlock } from '../../../storage/car-of-block.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { uploadCar } from '../../upload-car.js'
import { walletFor } from '../../wallet.js'
import { chainReader } from '../../chain-reader.js'

export type CreateCampaignParameters = {
  /** The per-unit function's JavaScript source: one expression, a function of the device's rows. */
  source: string
  /** The declared answer type: number:LO:HI, category:A,B,…, vector:N:LO:HI. */
  output: string
  /** What the answers are for; respondents' consent rules match it. */
  purpose: string
  /** Tokens per counted answer, as a decimal string (18 decimals), e.g. "0.5". */
  reward: string
  minRespondents: number
  maxRespondents: number
  /** Smallest number of answers any released figure aggregates (≥ 2; the minimum is at least k). */
  k: number
  /** ε of the one release (> 0). */
  epsilon: number
  /** Unix seconds until which answers are taken. */
  deadline: number
}

export type CreateCampaignReturnType = { id: bigint; hash: Hash; aggregator: Address; paramsHash: Hex; functionHash: Hex; functionCid: string; escrow: bigint }

/**
 * Posts a campaign: the function's source is checked (it must evaluate to a function in the
 * sandbox), stored as one raw IPFS block through the gateway (its CID is the campaign's
 * functionCid, its hash the functionHash respondents' agents check), and the campaign is created
 * with maxRespondents × reward escrowed (approving the contract when needed).
 */
export async function createCampaign(client: W3aClient, p: CreateCampaignParameters): Promise<CreateCampaignReturnType> {
  const account = requireAccount(client, 'campaign create')
  if (p.source.length > MAX_FUNCTION_CHARS) throw new W3aError('INVALID_ARGUMENT', `the function source is longer than ${MAX_FUNCTION_CHARS} characters`)
  const output = formatOutputSpec(parseOutputSpec(p.output))
  await checkFunctionSource(p.source)
  if (!(p.epsilon > 0) || !Number.isFinite(p.epsilon)) throw new W3aError('INVALID_ARGUMENT', '--epsilon must be > 0: a campaign releases only a noised aggregate')
  const int = (v: number, what: string, min: number) => {
    if (!Number.isSafeInteger(v) || v < min || v > 1_000_000) throw new W3aError('INVALID_ARGUMENT', `${what} must be an integer from ${min} to 1000000, got ${v}`)
    return v
  }
  int(p.k, '--k', 2)
  if (int(p.minRespondents, '--min', 2) < p.k) throw new W3aError('INVALID_ARGUMENT', `--min (${p.minRespondents}) must be at least --k (${p.k})`)
  if (int(p.maxRespondents, '--max', 2) < p.minRespondents) throw new W3aError('INVALID_ARGUMENT', `--max (${p.maxRespondents}) must be at least --min (${p.minRespondents})`)
  if (!/^\d+(\.\d{1,18})?$/.test(p.reward)) throw new W3aError('INVALID_ARGUMENT', `--reward "${p.reward}" is not a token amount such as 0.5`)
  if (!(p.deadline > Date.now() / 1000)) throw new W3aError('INVALID_ARGUMENT', 'the deadline must be in the future')
  const { network } = await chainReader(client)
  const { cid, car } = await carOfBlock(stringToBytes(p.source), raw.code)
  // A function already stored (the same source posted before) is not sent again.
  const stored = await client.gateway.getBytes(`/ipfs/${cid}?format=raw`, 'application/vnd.ipld.raw').then(
    () => true,
    (e: unknown) => {
      if (isW3aError(e, 'BLOCK_NOT_FOUND')) return false
      throw e
    },
  )
  if (!stored) await uploadCar(client, { root: cid, car })
  const hash = functionHash(p.source)
  const r = await createCampaignOnChain(walletFor(network, account), {
    campaigns: network.contracts.campaigns,
    functionHash: hash,
    functionCid: cid.toString(),
    output,
    purpose: p.purpose,
    rewardPerAnswer: parseUnits(p.reward, 18),
    minRespondents: p.minRespondents,
    maxRespondents: p.maxRespondents,
    k: p.k,
    epsilonMicros: BigInt(Math.round(p.epsilon * 1e6)),
    deadline: BigInt(Math.floor(p.deadline)),
  })
  return { id: r.campaignId, hash: r.hash, aggregator: r.aggregator, paramsHash: r.paramsHash, functionHash: hash, functionCid: cid.toString(), escrow: r.escrow }
}
