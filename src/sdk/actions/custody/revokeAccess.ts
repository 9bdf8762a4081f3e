import type { Address, Hex } from 'viem'
import { requireAccount, type W3aClient } from '../../client.js'
import { assertApplied, commandExpiry, newNonce, postOwnerCommand, type PostOwnerCommandReturnType } from '../../custody-channel.js'

export type RevokeAccessParameters = { id: Hex; grantee: Address }
export type RevokeAccessReturnType = PostOwnerCommandReturnType

export async function revokeAccess(client: W3aClient, params: RevokeAccessParameters): Promise<RevokeAccessReturnType> {
  const account = requireAccount(client, 'revoke')
  const out = await postOwnerCommand(client, {
    account,
    command: { type: 'Revoke', message: { datasetId: params.id, grantee: params.grantee, nonce: newNonce(), expiry: commandExpiry() } },
  })
  return assertApplied(out, 'revoke')
}
