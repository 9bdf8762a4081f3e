/**
 * Pools in custody state: one dataset (the pool, a curator's RegisterPool) made of many
 * contributions, each registered by its contributor with its own key and consent (Contribute),
 * changed or withdrawn only by that contributor (SetConsent), shredded by its Delete.
 *
 * A job on a pool is charged once (the pool's policy, budget and grants, release-check.ts); the
 * charge records which contributions it may read (`poolInputs`): those whose owner consents to
 * the purpose the job declared on chain and has not withdrawn, at that point of the inbox. So
 * a withdrawal or a refusal counts from the next job charged, and every keeper computes the
 * same list. A release then hands the keys of the listed contributions still live (a Delete
 * after the charge still keeps that key back).
 *
 * Purposes are free texts compared after `normalizePurpose` (trimmed, lowercased, inner spaces
 * collapsed): "Health research" and "health  research" are one purpose. A consent allows a purpose
 * if it lists it (or "*") and does not deny it: a denial wins.
 */
import type { Address, Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import { getDataset, type ContributionRecord, type CustodyState, type DatasetRecord } from './state.js'

export const ANY_PURPOSE = '*'
export const MAX_PURPOSE_LENGTH = 128

export function normalizePurpose(purpose: string): string {
  return String(purpose).trim().toLowerCase().replace(/\s+/g, ' ')
}

/** A consent list as custody keeps it: normalized, non-empty, sorted, unique. */
export function normalizePurposes(list: readonly string[]): string[] {
  return [...new Set(list.map(normalizePurpose).filter((p) => p.length > 0))].sort()
}

/** Does this consent admit a job declared for `purpose`? */
export function consentsTo(c: Pick<ContributionRecord, 'allow' | 'deny' | 'withdrawn'>, purpose: string): boolean {
  const p = normalizePurpose(purpose)
  if (c.withdrawn || p.length === 0 || c.deny.includes(p)) return false
  return c.allow.includes(p) || c.allow.includes(ANY_PURPOSE)
}

/** The contributions a job of `purpose` on pool `poolId` may read now (ids, ascending). */
export function poolInputs(state: CustodyState, poolId: Hex, purpose: string): Hex[] {
  const pool = getDataset(state, poolId)?.pool
  if (!pool) return []
  const out: Hex[] = []
  for (const id of pool.contributions) {
    const c = getDataset(state, id)
    if (c && !c.deleted && c.dek && c.contribution && consentsTo(c.contribution, purpose)) out.push(id)
  }
  return out.sort()
}

export type ContributionKey = { datasetId: Hex; owner: Address; manifestCid: string; dek: Uint8Array; dekHash: Hex }

/** Of a charge's inputs, those still live (copies of their keys), ascending by id. */
export function liveInputs(state: CustodyState, inputs: readonly Hex[]): ContributionKey[] {
  const out: ContributionKey[] = []
  for (const id of inputs) {
    const c = getDataset(state, id)
    if (c && !c.deleted && c.dek && c.dekHash) out.push({ datasetId: id, owner: c.owner, manifestCid: c.manifestCid, dek: c.dek.slice(), dekHash: c.dekHash })
  }
  return out
}

/** The pool record with `contributionId` added or (deleted) taken out. */
export function withContribution(pool: DatasetRecord, contributionId: Hex, present: boolean): DatasetRecord['pool'] {
  if (!pool.pool) throw new W3aError('INTERNAL', 'not a pool')
  const rest = pool.pool.contributions.filter((id) => id !== contributionId)
  return Object.freeze({ purpose: pool.pool.purpose, contributions: Object.freeze(present ? [...rest, contributionId] : rest) })
}
