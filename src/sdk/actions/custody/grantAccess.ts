import type { Address, Hex } from 'viem'
import { requireAccount, type W3aClient } from '../../client.js'
import { assertApplied, commandExpiry, newNonce, postOwnerCommand, type PostOwnerCommandReturnType } from '../../custody-channel.js'

export type GrantAccessParameters = {
  id: Hex
  grantee: Address
  /** Unix seconds after which the grant no longer works; omit for no expiry. */
  expiresAt?: number
  /** How many analyses the grantee may run; omit for unlimited. */
  uses?: number
}
export type GrantAccessReturnType = PostOwnerCommandReturnType

/** Lets `grantee` run analyses on the dataset (the custody contract, inside keepers, enforces it). */
export async function grantAccess(client: W3aClient, params: GrantAccessParameters): Promise<GrantAccessReturnType> {
  const account = requireAccount(client, 'grant')
  const out = await postOwnerCommand(client, {
    account,
    command: {
      type: 'Grant',
      message: { datasetId: params.id, grantee: params.grantee, expiresAt: BigInt(params.expiresAt ?? 0), uses: params.uses ?? 0, nonce: newNonce(), expiry: commandExpiry() },
    },
  })
  return assertApplied(out, 'grant')
}
