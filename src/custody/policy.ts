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
 *
 * Safe by default (docs/analysis.md "Defaults"): every query is differentially private with the
 * owner's public measure bounds, δ and ε per query come from here (never from the analyst), and
 * exact (k-only) answers exist only where `allowExact` is set, a few per analyst. Validation
 * refuses what would silently weaken that: bounds on a column that is not a measure, a measure
 * without bounds, a default ε below the minimum, δ too large for the number of queries the budget
 * allows. Checking names against the dataset's columns needs its schema: `checkPolicyColumns`.
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
const finite = z.number().refine(Number.isFinite, 'must be finite').refine((x) => Math.abs(x) <= 1e15, 'magnitude must be ≤ 1e15')

/** The largest δ per query a policy may set, and the largest total δ its budget may add up to. */
export const MAX_POLICY_DELTA = 1e-5
export const MAX_TOTAL_DELTA = 1e-4

export const ANALYSIS_KINDS = ['sql', 'function'] as const
export type AnalysisKind = (typeof ANALYSIS_KINDS)[number]

export const CustodyPolicySchema = z.strictObject({
  /** Minimum number of distinct privacy units behind every released row. */
  k: z.number().int().min(2).max(1_000_000).default(10),
  /** Total ε that analyses of this dataset may spend, all analysts together. */
  epsilonBudget: z.number().positive().max(1e6).default(3),
  /** Each analyst's share of epsilonBudget (absent = all of it). */
  analystEpsilonBudget: z.number().positive().max(1e6).optional().default(1),
  /** ε a query spends when the analyst names none. */
  defaultEpsilon: z.number().positive().max(100).default(0.1),
  /** The least ε one query may spend: a budget buys at most epsilonBudget / minEpsilon queries. */
  minEpsilon: z.number().positive().max(100).default(0.05),
  /** δ of every DP release (partition selection); the analyst cannot choose it. */
  delta: z.number().positive().max(MAX_POLICY_DELTA).default(1e-7),
  /** Public per-row clamp bounds [lower, upper] of each measure (required for every measure unless allowExact). */
  bounds: z.record(z.string().min(1).max(256), z.tuple([finite, finite])).default({}),
  /** The owner's opt-in to exact (k-threshold only, ε = 0) answers. */
  allowExact: z.boolean().default(false),
  /** How many exact queries each analyst may run (only with allowExact). */
  exactQueries: z.number().int().min(0).max(1_000_000).default(10),
  /** Quantile levels allowed (both ends included); outside it a quantile is a disguised min/max. */
  quantileRange: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).default([0.25, 0.75]),
  /** True: any analyst holding a market credit may run analyses without a grant (buyer lists still apply). */
  openAccess: z.boolean().default(false),
  analyses: z.array(z.enum(ANALYSIS_KINDS)).default(['sql']),
  /** Empty = anyone with a grant. */
  buyerAllow: z.array(addressSchema).max(MAX_LIST).default([]),
  buyerDeny: z.array(addressSchema).max(MAX_LIST).default([]),
  /** Code hashes of owner-approved algorithms that may return raw output (escape hatch). */
  allowedAlgorithms: z.array(codeHashSchema).max(MAX_LIST).default([]),
  /** Per-unit functions (analyses 'function') allowed by functionHash (analysis-request.ts); absent or empty = any. */
  functionAllow: z.array(codeHashSchema).max(MAX_LIST).optional(),
  /** Per-unit functions never run, by functionHash. */
  functionDeny: z.array(codeHashSchema).max(MAX_LIST).optional(),
  columns: z.strictObject({ identifiers: columnList, dimensions: columnList, measures: columnList }).optional(),
  allowMinMax: z.boolean().default(false),
})

/** What an owner writes: every field with a default may be left out. */
export type CustodyPolicyInput = z.input<typeof CustodyPolicySchema>

export type CustodyPolicy = Readonly<{
  k: number
  epsilonBudget: number
  analystEpsilonBudget?: number
  defaultEpsilon: number
  minEpsilon: number
  delta: number
  bounds: Readonly<Record<string, readonly [number, number]>>
  allowExact: boolean
  exactQueries: number
  quantileRange: readonly [number, number]
  openAccess: boolean
  analyses: readonly AnalysisKind[]
  buyerAllow: readonly Address[]
  buyerDeny: readonly Address[]
  allowedAlgorithms: readonly Hex[]
  functionAllow?: readonly Hex[]
  functionDeny?: readonly Hex[]
  columns?: Readonly<{ identifiers: readonly string[]; dimensions: readonly string[]; measures: readonly string[] }>
  allowMinMax: boolean
}>

const HASHES = new WeakMap<CustodyPolicy, Hex>()
/** Canonical JSON of frozen (parsed) policies: every sealed-state save writes each dataset's, and parsing it again each time cost more than the rest of the snapshot. */
const JSON_TEXT = new WeakMap<CustodyPolicy, string>()

/** Validates and canonicalizes a policy (throws INVALID_ARGUMENT naming the bad field). */
export function parsePolicy(input: unknown): CustodyPolicy {
  const r = CustodyPolicySchema.safeParse(input)
  if (!r.success) {
    throw new W3aError('INVALID_ARGUMENT', 'Custody policy is not valid', {
      details: r.error.issues.map((i) => `${i.path.join('.') || '(policy)'}: ${i.message}`),
    })
  }
  const p = r.data
  const problems = policyProblems(p)
  if (problems.length > 0) throw new W3aError('POLICY_INVALID', 'Custody policy is not valid', { details: problems })
  const set = <T extends string>(xs: readonly T[]): T[] => [...new Set(xs)].sort()
  const policy: CustodyPolicy = {
    k: p.k,
    epsilonBudget: p.epsilonBudget,
    ...(p.analystEpsilonBudget !== undefined ? { analystEpsilonBudget: p.analystEpsilonBudget } : {}),
    defaultEpsilon: p.defaultEpsilon,
    minEpsilon: p.minEpsilon,
    delta: p.delta,
    bounds: Object.fromEntries(Object.keys(p.bounds).sort().map((k) => [k, [p.bounds[k]![0], p.bounds[k]![1]] as const])),
    allowExact: p.allowExact,
    exactQueries: p.exactQueries,
    quantileRange: [p.quantileRange[0], p.quantileRange[1]],
    openAccess: p.openAccess,
    analyses: set(p.analyses),
    buyerAllow: set(p.buyerAllow),
    buyerDeny: set(p.buyerDeny),
    allowedAlgorithms: set(p.allowedAlgorithms),
    // Kept out of the canonical form when empty, so policies without them hash as before.
    ...(p.functionAllow?.length ? { functionAllow: set(p.functionAllow) } : {}),
    ...(p.functionDeny?.length ? { functionDeny: set(p.functionDeny) } : {}),
    ...(p.columns ? { columns: Object.freeze({ identifiers: set(p.columns.identifiers), dimensions: set(p.columns.dimensions), measures: set(p.columns.measures) }) } : {}),
    allowMinMax: p.allowMinMax,
  }
  return deepFreeze(policy)
}

type ParsedPolicy = z.output<typeof CustodyPolicySchema>

/** What makes a well-typed policy unsafe or self-contradictory; empty when it is fine. */
function policyProblems(p: ParsedPolicy): string[] {
  const out: string[] = []
  const measures = new Set((p.columns?.measures ?? []).map((m) => m.toLowerCase()))
  for (const [name, [lo, hi]] of Object.entries(p.bounds)) {
    if (!measures.has(name.toLowerCase())) out.push(`bounds.${name}: not a declared measure (columns.measures)`)
    if (!(lo <= hi)) out.push(`bounds.${name}: lower must be ≤ upper`)
  }
  if (!p.allowExact) {
    const bounded = new Set(Object.keys(p.bounds).map((m) => m.toLowerCase()))
    for (const m of p.columns?.measures ?? []) if (!bounded.has(m.toLowerCase())) out.push(`columns.measures: ${m} has no bounds (a DP sum needs public [lower, upper] per row: --measures ${m}:LOWER:UPPER)`)
  }
  if (p.defaultEpsilon < p.minEpsilon) out.push(`defaultEpsilon ${p.defaultEpsilon} is below minEpsilon ${p.minEpsilon}`)
  const share = Math.min(p.analystEpsilonBudget ?? p.epsilonBudget, p.epsilonBudget)
  if (p.minEpsilon > share) out.push(`minEpsilon ${p.minEpsilon} is more than an analyst may spend (${share})`)
  // Basic composition: at most epsilonBudget / minEpsilon DP releases, each with δ.
  const totalDelta = Math.floor(p.epsilonBudget / p.minEpsilon) * p.delta
  if (totalDelta > MAX_TOTAL_DELTA) out.push(`delta × (epsilonBudget / minEpsilon) = ${totalDelta} exceeds ${MAX_TOTAL_DELTA}: lower delta, raise minEpsilon or lower the budget`)
  if (!(p.quantileRange[0] <= p.quantileRange[1]) || p.quantileRange[0] < 0.01 || p.quantileRange[1] > 0.99) out.push('quantileRange: must be [low, high] with 0.01 ≤ low ≤ high ≤ 0.99')
  return out
}

/**
 * A policy checked against the dataset's columns (its public schema): every name it declares
 * must be a column, or it would silently leave the real column an identifier. Throws
 * POLICY_INVALID listing the dataset's columns.
 */
export function checkPolicyColumns(policy: CustodyPolicy, columns: readonly string[]): void {
  const have = new Set(columns.map((c) => c.toLowerCase()))
  const named = [...(policy.columns ? [...policy.columns.identifiers, ...policy.columns.dimensions, ...policy.columns.measures] : []), ...Object.keys(policy.bounds)]
  const unknown = [...new Set(named.filter((c) => !have.has(c.toLowerCase())))]
  if (unknown.length > 0) {
    throw new W3aError('POLICY_INVALID', `The policy names ${unknown.length === 1 ? 'a column' : 'columns'} the dataset does not have: ${unknown.join(', ')}`, {
      details: [`The dataset's columns: ${columns.join(', ')}`],
    })
  }
}

export const DEFAULT_POLICY: CustodyPolicy = parsePolicy({})

/** What an analysis is, as far as the policy's terms on kinds go. */
export type AnalysisIdentity = { kind: 'sql' } | { kind: 'function'; functionHash: Hex }

/**
 * Why the policy does not let this analysis run (undefined: it does): its kind is not in
 * `analyses`, or it is a function the owner denied by hash or left off a non-empty allow-list.
 * Keepers check it when they open a job's sealed analysis, and the worker again.
 */
export function analysisDenial(policy: CustodyPolicy, a: AnalysisIdentity): 'analysis-not-allowed' | 'function-not-allowed' | undefined {
  if (!policy.analyses.includes(a.kind)) return 'analysis-not-allowed'
  if (a.kind !== 'function') return undefined
  const h = a.functionHash.toLowerCase() as Hex
  if (policy.functionDeny?.includes(h)) return 'function-not-allowed'
  if (policy.functionAllow?.length && !policy.functionAllow.includes(h)) return 'function-not-allowed'
  return undefined
}

/** The canonical JSON text of a policy (keys sorted, no whitespace). */
export function canonicalPolicyJson(policy: CustodyPolicyInput | CustodyPolicy): string {
  const cached = JSON_TEXT.get(policy as CustodyPolicy)
  if (cached !== undefined) return cached
  const text = JSON.stringify(sortKeys(parsePolicy(policy)))
  if (Object.isFrozen(policy)) JSON_TEXT.set(policy as CustodyPolicy, text)
  return text
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
