import type { Hex } from 'viem'
import { requireAccount, type W3aClient } from '../../client.js'
import { assertApplied, commandExpiry, newNonce, postOwnerCommand, type PostOwnerCommandReturnType } from '../../custody-channel.js'

export type DeleteContributionParameters = { id: Hex }

/**
 * Deletes a contribution: the keepers shred its key (the signed receipt names the epoch after
 * which no copy of it can be opened by anyone) and drop it from its pool, so no later job reads
 * it and its segments in storage are ciphertext nobody can open. (Contributions are not in the
 * public registry, so no storage node has a public rule yet to unpin their blocks: docs/pools.md.)
 */
export async function deleteContribution(client: W3aClient, params: DeleteContributionParameters): Promise<PostOwnerCommandReturnType> {
  const account = requireAccount(client, 'pool delete')
  const out = await postOwnerCommand(client, { account, command: { type: 'Delete', message: { datasetId: params.id, nonce: newNonce(), expiry: commandExpiry() } } })
  return assertApplied(out, 'contribution deletion')
}
