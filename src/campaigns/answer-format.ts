/**
 * A respondent's sealed answer, the one format both sides use (the agent and the SDK seal it, the
 * aggregator's enclave opens it: src/enclave/campaign-aggregator.ts). Layout in docs/formats.md,
 * "Campaign answers".
 *
 *   envelope   = { v: 1, campaignId: "<decimal>", enc: hex, ciphertext: hex }     (what the gateway relays)
 *   HPKE       = RFC 9180 base mode to the aggregator worker's attested key (the registry's
 *                hpkePublicKey, bound in its quote), info = "w3a.campaign-answer.v1" ‖ paramsHash
 *   plaintext  = JSON { v: 1, token: bytes32 hex, payout: address, answer }
 *
 * paramsHash (src/chain/campaigns.ts) commits to the chain, the contract, the campaign id, its
 * aggregator and every term: an answer opens only under the exact campaign it was made for, so a
 * host that lies to its enclave about a campaign's terms (k, ε, deadline) opens nothing.
 *
 * token = HMAC-SHA256(device secret, "w3a.campaign-token.v1" ‖ chainId ‖ contract ‖ campaignId):
 * the same device always makes the same token for one campaign (so its second answer, or a replay
 * of its first, is refused), and tokens of two campaigns cannot be linked without the secret.
 * It proves nothing about being a distinct person: a device secret is free to make (see
 * docs/campaigns.md, "What a token does not stop").
 *
 * No Node built-in: browsers use this file as is.
 */
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, concatBytes, getAddress, hexToBytes, isAddress, numberToBytes, stringToBytes, type Address, type Hex } from 'viem'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { hpkeSeal } from '../crypto/hpke.js'
import type { CampaignDomain } from '../chain/campaigns.js'
import type { UnitOutput, UnitValue } from '../analysis/unit-function/output-type.js'

const INFO_TAG = stringToBytes('w3a.campaign-answer.v1')
const TOKEN_TAG = stringToBytes('w3a.campaign-token.v1')
/** Largest envelope the gateway relays and the enclave reads (characters of its JSON). */
export const MAX_ANSWER_ENVELOPE_CHARS = 4096

/** What the respondent answers: a declared category (or null: none), a number, or a vector. */
export type AnswerValue = string | number | number[] | null
export type AnswerPlaintext = { v: 1; token: Hex; payout: Address; answer: AnswerValue }
export type AnswerEnvelope = { v: 1; campaignId: string; enc: Hex; ciphertext: Hex }

const hex = z.string().regex(/^0x([0-9a-fA-F]{2})+$/)
const EnvelopeSchema = z.strictObject({ v: z.literal(1), campaignId: z.string().regex(/^(0|[1-9][0-9]{0,76})$/), enc: hex, ciphertext: hex })
const PlaintextSchema = z.strictObject({
  v: z.literal(1),
  token: z.string().regex(/^0x[0-9a-f]{64}$/),
  payout: z.string().refine((s) => isAddress(s, { strict: false }), 'not an address'),
  answer: z.union([z.string().max(64), z.number(), z.array(z.number()).max(16), z.null()]),
})

/** The HPKE info an answer is sealed under: the tag ‖ the campaign's paramsHash. */
export function answerInfo(paramsHash: Hex): Uint8Array {
  return concatBytes([INFO_TAG, hexToBytes(paramsHash)])
}

/** The device's one-time token for a campaign (see the header). */
export function answerToken(deviceSecret: Uint8Array, d: CampaignDomain): Hex {
  if (deviceSecret.length < 32) throw new W3aError('INVALID_ARGUMENT', 'a device secret has at least 32 bytes')
  const msg = concatBytes([TOKEN_TAG, numberToBytes(BigInt(d.chainId), { size: 32 }), hexToBytes(d.campaigns), numberToBytes(d.campaignId, { size: 32 })])
  return bytesToHex(hmac(sha256, deviceSecret, msg))
}

/** An HPKE single-shot seal (default hpke.ts's; a Node caller may pass a native one of the same suite). */
export type AnswerSeal = (recipientPublicKey: Uint8Array, info: Uint8Array, plaintext: Uint8Array) => Promise<{ enc: Uint8Array; ciphertext: Uint8Array }> | { enc: Uint8Array; ciphertext: Uint8Array }
const defaultSeal: AnswerSeal = (recipientPublicKey, info, plaintext) => hpkeSeal({ recipientPublicKey, info }, plaintext)

/** Respondent side: seals one answer to the aggregator's attested key. */
export async function sealAnswer(p: { campaignId: bigint; paramsHash: Hex; aggregatorKey: Hex; plaintext: AnswerPlaintext; seal?: AnswerSeal }): Promise<AnswerEnvelope> {
  const body = stringToBytes(JSON.stringify(p.plaintext))
  const { enc, ciphertext } = await (p.seal ?? defaultSeal)(hexToBytes(p.aggregatorKey), answerInfo(p.paramsHash), body)
  return { v: 1, campaignId: p.campaignId.toString(), enc: bytesToHex(enc), ciphertext: bytesToHex(ciphertext) }
}

/** Parses a relayed envelope (ANSWER_REFUSED naming what is wrong). */
export function parseAnswerEnvelope(raw: unknown): AnswerEnvelope {
  const r = EnvelopeSchema.safeParse(raw)
  if (!r.success) throw new W3aError('ANSWER_REFUSED', `the answer envelope is malformed: ${r.error.issues.map((i) => `${i.path.join('.') || 'envelope'}: ${i.message}`).join('; ')}`)
  if (r.data.ciphertext.length > MAX_ANSWER_ENVELOPE_CHARS) throw new W3aError('ANSWER_REFUSED', 'the answer is too long')
  return r.data as AnswerEnvelope
}

/**
 * Aggregator side (inside the enclave): an envelope opened under the campaign's paramsHash by
 * `open` (the enclave's native HPKE, hpke-export-node.ts; any failure is ANSWER_REFUSED), parsed.
 */
export function openAnswer(p: { paramsHash: Hex; envelope: AnswerEnvelope; open: (enc: Uint8Array, info: Uint8Array, ciphertext: Uint8Array) => Uint8Array }): AnswerPlaintext {
  let bytes: Uint8Array
  try {
    bytes = p.open(hexToBytes(p.envelope.enc), answerInfo(p.paramsHash), hexToBytes(p.envelope.ciphertext))
  } catch {
    throw new W3aError('ANSWER_REFUSED', 'the answer does not open under this campaign (sealed for another campaign or aggregator, or changed on the way)')
  }
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    throw new W3aError('ANSWER_REFUSED', 'the opened answer is not JSON')
  }
  const r = PlaintextSchema.safeParse(json)
  if (!r.success) throw new W3aError('ANSWER_REFUSED', `the opened answer is malformed: ${r.error.issues.map((i) => `${i.path.join('.') || 'answer'}: ${i.message}`).join('; ')}`)
  return { ...r.data, payout: getAddress(r.data.payout) } as AnswerPlaintext
}

/**
 * An answer checked against the declared type, as the value the privacy gate sums or counts
 * (a category's index). Strict, unlike a job's coercion: a respondent's own answer that is not
 * of the type is refused with ANSWER_REFUSED, so their agent learns it did not count.
 */
export function answerValue(output: UnitOutput, answer: AnswerValue): UnitValue {
  const bad = (why: string): never => {
    throw new W3aError('ANSWER_REFUSED', `the answer is not of the declared type: ${why}`)
  }
  const inRange = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) && x >= (output as { lo: number }).lo && x <= (output as { hi: number }).hi ? x : bad(`${String(x)} is not a number in its bounds`))
  if (output.kind === 'category') {
    const i = typeof answer === 'string' ? output.values.indexOf(answer) : -1
    return i >= 0 ? i : bad(`not one of ${output.values.join(', ')}`)
  }
  if (output.kind === 'number') return inRange(answer)
  if (!Array.isArray(answer) || answer.length !== output.length) return bad(`not a vector of ${output.length} numbers`)
  return answer.map(inRange)
}

/** The answer a device sends for what its function returned (after the sandbox's coercion). */
export function answerOf(output: UnitOutput, value: UnitValue): AnswerValue {
  if (output.kind === 'category') return typeof value === 'number' && value >= 0 ? output.values[value]! : null
  return value
}
