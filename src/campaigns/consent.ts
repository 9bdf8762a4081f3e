/**
 * A respondent's consent rules: which campaigns their agent may answer (docs/campaigns.md,
 * "Consent rules"). Checked on the device against the campaign's public terms, before the
 * function is fetched or run; a campaign that fails any rule gets nothing, not even a refusal.
 *
 *   { "purposes": ["health research"],          purposes allowed (exact, case-insensitive)
 *     "maxEpsilon": 1,                          largest ε per campaign
 *     "minK": 10,                               optional: smallest k accepted (default 2)
 *     "functions": ["0x…"],                     optional: only these function hashes
 *     "denyFunctions": ["0x…"],                 optional: never these
 *     "minReward": "1.5" }                      optional: tokens per answer at least (18 decimals)
 *
 * No Node built-in: browsers use this file as is.
 */
import { parseUnits, type Hex } from 'viem'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import type { CampaignTerms } from '../chain/campaigns.js'

const hash = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'a function hash (0x + 64 hex digits)')
export const ConsentRulesSchema = z.strictObject({
  purposes: z.array(z.string().min(1)).min(1),
  maxEpsilon: z.number().positive().finite(),
  minK: z.number().int().min(2).optional(),
  functions: z.array(hash).optional(),
  denyFunctions: z.array(hash).optional(),
  minReward: z.string().regex(/^\d+(\.\d{1,18})?$/, 'a token amount such as "1.5"').optional(),
})
export type ConsentRules = z.infer<typeof ConsentRulesSchema>

export function parseConsentRules(raw: unknown, where = 'consent rules'): ConsentRules {
  const r = ConsentRulesSchema.safeParse(raw)
  if (!r.success) {
    throw new W3aError('INVALID_ARGUMENT', `${where} are not valid`, {
      details: [...r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`), 'Form: { "purposes": ["…"], "maxEpsilon": 1, "functions"?: ["0x…"], "denyFunctions"?: ["0x…"], "minK"?: 10, "minReward"?: "1" }'],
    })
  }
  return r.data
}

/** Why the rules refuse the campaign, or undefined when they allow it. */
export function consentRefusal(rules: ConsentRules, t: Pick<CampaignTerms, 'purpose' | 'epsilonMicros' | 'k' | 'functionHash' | 'rewardPerAnswer'>): string | undefined {
  const fn = t.functionHash.toLowerCase() as Hex
  if (!rules.purposes.some((p) => p.trim().toLowerCase() === t.purpose.trim().toLowerCase())) return `purpose "${t.purpose}" is not among your allowed purposes`
  if (Number(t.epsilonMicros) / 1e6 > rules.maxEpsilon) return `ε ${Number(t.epsilonMicros) / 1e6} exceeds your maximum ${rules.maxEpsilon}`
  if (t.k < (rules.minK ?? 2)) return `k ${t.k} is below your minimum ${rules.minK}`
  if (rules.denyFunctions?.some((h) => h.toLowerCase() === fn)) return `function ${fn} is denied`
  if (rules.functions && !rules.functions.some((h) => h.toLowerCase() === fn)) return `function ${fn} is not among your allowed functions`
  if (rules.minReward !== undefined && t.rewardPerAnswer < parseUnits(rules.minReward, 18)) return `the reward per answer is below your minimum ${rules.minReward}`
  return undefined
}

/** CONSENT_REFUSED when the rules refuse the campaign. */
export function requireConsent(rules: ConsentRules, t: Parameters<typeof consentRefusal>[1]): void {
  const why = consentRefusal(rules, t)
  if (why !== undefined) throw new W3aError('CONSENT_REFUSED', `your consent rules refuse this campaign: ${why}`, { details: ['Nothing was computed or sent.'] })
}
