/**
 * A dataset's custody policy: what analyses may run, for whom, and under which privacy limits.
 * The owner signs only `policyHash(policy)` (SetPolicy); the policy itself travels inside the
 * sealed command envelope, so the keeper checks it hashes to what was signed.
 *
 * Canonical form (what is hashed and stored): defaults filled in, addresses and code hashes
 * lowercased, every list sorted and de-duplicated (they are sets), no unknown keys. Then
 *
 *   policyHash = keccak256(utf8("w3a.policy.v1\n" ‖ JSON with keys sorted, no spaces))
 *
 * Numbers are written as ECMAScript's JSON.stringify writes them (shortest round trip).
 */
import { keccak_256 } from '@noble/hashes/sha3.js'
import { bytesToHex, isAddress, type Address, type Hex } from 'viem'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'

// The inbox takes at most 16 KiB per sealed command, so lists stay short.
const MAX_LIST = 256
const MAX_COLUMNS = 256
const addressSchema = z
  .string()
  .refine((s) => isAddress(s, { strict: false }), 'not an address')
  .transform((s) => s.toLowerCase() as Address)
const codeHashSchema = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, 'not a bytes32 code hash')
  .transform((s) => s.toLowerCase() as Hex)
const columnList = z.array(z.string().min(1).max(256)).max(MAX_COLUMNS)

export const ANALYSIS_KINDS = ['sql', 'function'] as const
export type AnalysisKind = (typeof ANALYSIS_KINDS)[number]

export const CustodyPolicySchema = z.strictObject({
  /** Minimum number of distinct privacy units behind every released row. */
  k: z.number().int().min(2).max(1_000_000).default(10),
  /** Total ε that analyses of this dataset may spend, all analysts together. */
  epsilonBudget: z.number().positive().max(1e6).default(10),
  /** Each analyst's share of epsilonBudget (absent = all of it). */
  analystEpsilonBudget: z.number().positive().max(1e6).optional(),
  /** True: any analyst holding a market credit may run analyses without a grant (buyer lists still apply). */
  openAccess: z.boolean().default(false),
  analyses: z.array(z.enum(ANALYSIS_KINDS)).default(['sql']),
  /** Empty = anyone with a grant. */
  buyerAllow: z.array(addressSchema).max(MAX_LIST).default([]),
  buyerDeny: z.array(addressSchema).max(MAX_LIST).default([]),
  /** Code hashes of owner-approved algorithms that may return raw output (escape hatch). */
  allowedAlgorithms: z.array(codeHashSchema).max(MAX_LIST).default([]),
  columns: z.strictObject({ identifiers: columnList, dimensions: columnList, measures: columnList }).optional(),
  allowMinMax: z.boolean().default(false),
})

/** What an owner writes: every field with a default may be left out. */
export type CustodyPolicyInput = z.input<typeof CustodyPolicySchema>

export type CustodyPolicy = Readonly<{
  k: number
  epsilonBudget: number
  analystEpsilonBudget?: number
  openAccess: boolean
  analyses: readonly AnalysisKind[]
  buyerAllow: readonly Address[]
  buyerDeny: readonly Address[]
  allowedAlgorithms: readonly Hex[]
  columns?: Readonly<{ identifiers: readonly string[]; dimensions: readonly string[]; measures: readonly string[] }>
  allowMinMax: boolean
}>

const HASHES = new WeakMap<CustodyPolicy, Hex>()

/** Validates and canonicalizes a policy (throws INVALID_ARGUMENT naming the bad field). */
export function parsePolicy(input: unknown): CustodyPolicy {
  const r = CustodyPolicySchema.safeParse(input)
  if (!r.success) {
    throw new W3aError('INVALID_ARGUMENT', 'Custody policy is not valid', {
      details: r.error.issues.map((i) => `${i.path.join('.') || '(policy)'}: ${i.message}`),
    })
  }
  const p = r.data
  const set = <T extends string>(xs: readonly T[]): T[] => [...new Set(xs)].sort()
  const policy: CustodyPolicy = {
    k: p.k,
    epsilonBudget: p.epsilonBudget,
    ...(p.analystEpsilonBudget !== undefined ? { analystEpsilonBudget: p.analystEpsilonBudget } : {}),
    openAccess: p.openAccess,
    analyses: set(p.analyses),
    buyerAllow: set(p.buyerAllow),
    buyerDeny: set(p.buyerDeny),
    allowedAlgorithms: set(p.allowedAlgorithms),
    ...(p.columns ? { columns: Object.freeze({ identifiers: set(p.columns.identifiers), dimensions: set(p.columns.dimensions), measures: set(p.columns.measures) }) } : {}),
    allowMinMax: p.allowMinMax,
  }
  return deepFreeze(policy)
}

export const DEFAULT_POLICY: CustodyPolicy = parsePolicy({})

/** The canonical JSON text of a policy (keys sorted, no whitespace). */
export function canonicalPolicyJson(policy: CustodyPolicyInput | CustodyPolicy): string {
  return JSON.stringify(sortKeys(parsePolicy(policy)))
}

/** keccak256 over the canonical form; a policy that only differs in order or case hashes the same. */
export function policyHash(policy: CustodyPolicyInput | CustodyPolicy): Hex {
  const cached = HASHES.get(policy as CustodyPolicy)
  if (cached) return cached
  const h = bytesToHex(keccak_256(new TextEncoder().encode(`w3a.policy.v1\n${canonicalPolicyJson(policy)}`)))
  if (Object.isFrozen(policy)) HASHES.set(policy as CustodyPolicy, h)
  return h
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    )
  }
  return v
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x)
    Object.freeze(v)
  }
  return v
}
