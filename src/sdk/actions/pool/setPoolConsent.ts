import type { Hex } from 'viem'
import { requireAccount, type W3aClient } from '../../client.js'
import { assertApplied, commandExpiry, newNonce, postOwnerCommand, type PostOwnerCommandReturnType } from '../../custody-channel.js'

export type SetPoolConsentParameters = {
  /** The contribution (listMyContributions). */
  id: Hex
  allow: string[]
  deny?: string[]
  /** True: withdraw it; no job charged from now on reads it (its key stays in custody: deleteContribution shreds it). */
  withdrawn?: boolean
}

/** Replaces a contribution's consent (SetConsent): from the next job charged on, only purposes it allows and does not deny read it. */
export async function setPoolConsent(client: W3aClient, params: SetPoolConsentParameters): Promise<PostOwnerCommandReturnType> {
  const account = requireAccount(client, 'pool consent')
  const out = await postOwnerCommand(client, {
    account,
    command: { type: 'SetConsent', message: { datasetId: params.id, allow: params.allow, deny: params.deny ?? [], withdrawn: params.withdrawn ?? false, nonce: newNonce(), expiry: commandExpiry() } },
  })
  return assertApplied(out, params.withdrawn ? 'withdrawal' : 'consent')
}
