import type { Address, Hex } from 'viem'
import { openCustodyAnswer, type CustodyView } from '../../../custody/index.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { queryKeeper } from '../../custody-query.js'
import type { VerifierOptions } from '../../worker-attestation.js'

export type ReadDatasetAccessParameters = {
  id: Hex
  keeper?: Address
} & VerifierOptions
export type ReadDatasetAccessReturnType = CustodyView & { keeper: Address }

/**
 * The owner's confidential view (grants, policy, budget spent), read straight from a keeper
 * (custody-query.ts). Anyone but the owner is refused (ACCESS_DENIED, reason not-authorized).
 * The keeper's HPKE key is checked against its registered quote first (KEY_NOT_ATTESTED;
 * tdx/sgx keepers need `collateral`).
 */
export async function readDatasetAccess(client: W3aClient, params: ReadDatasetAccessParameters): Promise<ReadDatasetAccessReturnType> {
  const account = requireAccount(client, 'access')
  const { view, keeper } = await queryKeeper(client, { account, id: params.id, scope: 'owner', ...(params.keeper ? { keeper: params.keeper } : {}), verifier: params, open: openCustodyAnswer })
  return { ...view, keeper }
}
