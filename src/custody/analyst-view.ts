/**
 * What an analyst may read of a dataset's custody state: their own ε spent and left, their
 * grant, and the dataset's ε left. Nothing here is more than a query of theirs already reveals
 * (every job output carries `epsilonLeft` and `analystEpsilonLeft`, job-release.ts), and
 * nothing about other analysts one by one.
 *
 * A keeper builds it only for the signer of the query (owner-query.ts, scope 'analyst'), and
 * only when the signer owns the dataset, holds a grant on it (even an expired one), has spent
 * ε on it, or may use it by `openAccess` (not on the deny list, on the allow list if there is
 * one). Anyone else, and any unknown or deleted dataset, gets the same 'not-authorized'.
 */
import { isAddress, type Address, type Hex } from 'viem'
import { z } from 'zod'
import { exactQueriesCharged } from './release-check.js'
import { getDataset, type CustodyState } from './state.js'
import { stateRoot } from './state-root.js'

export type AnalystView = {
  datasetId: Hex
  analyst: Address
  /** ε this analyst has spent on the dataset. */
  epsilonSpent: number
  /** ε this analyst may still spend: the smaller of their share left and the dataset's ε left. */
  epsilonLeft: number
  /** The policy's per-analyst share (null: no share, the whole dataset budget). */
  analystEpsilonBudget: number | null
  /** The dataset's ε left, all analysts together. */
  datasetEpsilonLeft: number
  /** The analyst's grant (usesLeft null = unlimited), or null when they use it by openAccess. */
  grant: { expiresAt: bigint; usesLeft: number | null } | null
  /**
   * What a query is held to, so a client can ask without privacy flags: the policy's default and
   * minimum ε, its δ, the measures' public bounds, and exact queries left (null: not allowed).
   */
  queryTerms: { defaultEpsilon: number; minEpsilon: number; delta: number; bounds: Record<string, [number, number]>; exactQueriesLeft: number | null }
  asOf: { processed: bigint; stateRoot: Hex }
}

export function analystView(state: CustodyState, datasetId: Hex, requester: Address): AnalystView | undefined {
  const r = getDataset(state, datasetId)
  if (!r || r.deleted) return undefined
  const analyst = requester.toLowerCase() as Address
  const grant = r.grants.get(analyst)
  const spent = r.budget.perAnalyst.get(analyst)
  const p = r.policy
  const openToThem = p.openAccess && !p.buyerDeny.includes(analyst) && (p.buyerAllow.length === 0 || p.buyerAllow.includes(analyst))
  if (r.owner.toLowerCase() !== analyst && !grant && spent === undefined && !openToThem) return undefined
  const epsilonSpent = spent ?? 0
  const datasetEpsilonLeft = Math.max(0, p.epsilonBudget - r.budget.spent)
  const shareLeft = p.analystEpsilonBudget === undefined ? Infinity : Math.max(0, p.analystEpsilonBudget - epsilonSpent)
  return {
    datasetId: datasetId.toLowerCase() as Hex,
    analyst,
    epsilonSpent,
    epsilonLeft: Math.min(shareLeft, datasetEpsilonLeft),
    analystEpsilonBudget: p.analystEpsilonBudget ?? null,
    datasetEpsilonLeft,
    grant: grant ? { expiresAt: grant.expiresAt, usesLeft: grant.usesLeft } : null,
    queryTerms: {
      defaultEpsilon: p.defaultEpsilon,
      minEpsilon: p.minEpsilon,
      delta: p.delta,
      bounds: Object.fromEntries(Object.entries(p.bounds).map(([k, [lo, hi]]) => [k, [lo, hi]])),
      exactQueriesLeft: p.allowExact ? Math.max(0, p.exactQueries - exactQueriesCharged(state, datasetId, analyst)) : null,
    },
    asOf: { processed: state.processed, stateRoot: stateRoot(state) },
  }
}

/** The JSON the keeper seals (bigints as decimal strings). */
export function analystViewJson(view: AnalystView): string {
  return JSON.stringify({
    v: 1,
    scope: 'analyst',
    ...view,
    grant: view.grant ? { expiresAt: view.grant.expiresAt.toString(), usesLeft: view.grant.usesLeft } : null,
    asOf: { processed: view.asOf.processed.toString(), stateRoot: view.asOf.stateRoot },
  })
}

const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/)
const dec = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,77})$/)
  .transform((s) => BigInt(s))
const epsilon = z.number().finite().min(0)
const analystViewSchema = z.strictObject({
  v: z.literal(1),
  scope: z.literal('analyst'),
  datasetId: hex32,
  analyst: z.string().refine((s) => isAddress(s, { strict: false })),
  epsilonSpent: epsilon,
  epsilonLeft: epsilon,
  analystEpsilonBudget: epsilon.nullable(),
  datasetEpsilonLeft: epsilon,
  grant: z.strictObject({ expiresAt: dec, usesLeft: z.number().int().min(0).nullable() }).nullable(),
  queryTerms: z.strictObject({
    defaultEpsilon: epsilon,
    minEpsilon: epsilon,
    delta: epsilon,
    bounds: z.record(z.string(), z.tuple([z.number().finite(), z.number().finite()])),
    exactQueriesLeft: z.number().int().min(0).nullable(),
  }),
  asOf: z.strictObject({ processed: dec, stateRoot: hex32 }),
})

/** Parses what `analystViewJson` wrote; undefined when it is not an analyst view. */
export function parseAnalystView(json: unknown): AnalystView | undefined {
  const r = analystViewSchema.safeParse(json)
  if (!r.success) return undefined
  const { v: _v, scope: _s, ...view } = r.data
  return view as AnalystView
}
