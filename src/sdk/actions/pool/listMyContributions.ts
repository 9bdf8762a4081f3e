import { isW3aError } from '../../../core/errors.js'
import type { Hex } from 'viem'
import { requireAccount, type W3aClient } from '../../client.js'
import { readDatasetAccess } from '../custody/readDatasetAccess.js'
import { contributionId } from './contributionId.js'

export type MyContribution = { id: Hex; index: number; manifestCid: string; deleted: boolean; allow: string[]; deny: string[]; withdrawn: boolean }
export type ListMyContributionsParameters = { pool: Hex }

/**
 * The account's contributions to a pool, as custody holds them (read from a keeper, owner
 * query): their consent, withdrawn or deleted. Walks the derived ids (contributionId.ts) until
 * one custody does not know.
 */
export async function listMyContributions(client: W3aClient, params: ListMyContributionsParameters): Promise<MyContribution[]> {
  const account = requireAccount(client, 'pool contributions')
  const out: MyContribution[] = []
  for (let n = 0; n < 10_000; n++) {
    const id = contributionId(account.address, params.pool, n)
    let view
    try {
      view = await readDatasetAccess(client, { id })
    } catch (e) {
      if (isW3aError(e, 'ACCESS_DENIED')) break // unknown to custody: the end of the list
      throw e
    }
    const c = view.contribution
    out.push({ id, index: n, manifestCid: view.manifestCid, deleted: view.deleted, allow: c?.allow ?? [], deny: c?.deny ?? [], withdrawn: c?.withdrawn ?? false })
  }
  return out
}
