import type { Address, Hex } from 'viem'
import { openAnalystAnswer, type AnalystView } from '../../../custody/index.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { queryKeeper } from '../../custody-query.js'
import type { VerifierOptions } from '../../worker-attestation.js'

/** `collateral` / `now`: to verify a tdx/sgx keeper's quote, whose key is checked before sealing. */
export type ReadAnalystBudgetParameters = { id: Hex; keeper?: Address } & VerifierOptions
export type ReadAnalystBudgetReturnType = AnalystView & { keeper: Address }

/**
 * The client account's own privacy budget on a dataset (ε spent and left, share cap, the
 * dataset's ε left, grant), read straight from a keeper: the account signs the request and
 * the keeper answers only for the signer (src/custody/analyst-view.ts says when). Someone
 * with no access to the dataset gets ACCESS_DENIED (reason not-authorized).
 */
export async function readAnalystBudget(client: W3aClient, params: ReadAnalystBudgetParameters): Promise<ReadAnalystBudgetReturnType> {
  const account = requireAccount(client, 'reading your privacy budget')
  const { view, keeper } = await queryKeeper(client, { account, id: params.id, scope: 'analyst', ...(params.keeper ? { keeper: params.keeper } : {}), verifier: params, open: openAnalystAnswer })
  return { ...view, keeper }
}
