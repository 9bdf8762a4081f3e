import { keccak256, type Hex, type LocalAccount } from 'viem'
import type { W3aClient } from '../../client.js'
import { assertApplied, commandExpiry, newNonce, postOwnerCommand, type PostOwnerCommandReturnType } from '../../custody-channel.js'

/**
 * The end of every contribution, once its sealed rows and manifest are stored: the contributor's
 * own key goes to custody sealed to the keepers (Contribute), owned by the contributor, with
 * their consent (default: the pool's own purpose). Shared by the Node and browser contributions.
 */
export async function postContribution(
  client: W3aClient,
  p: { account: LocalAccount; id: Hex; salt: Hex; pool: Hex; poolPurpose: string; manifestCid: string; dek: Uint8Array; allow?: string[]; deny?: string[] },
): Promise<PostOwnerCommandReturnType> {
  return assertApplied(
    await postOwnerCommand(client, {
      account: p.account,
      dek: p.dek,
      command: {
        type: 'Contribute',
        message: { datasetId: p.id, salt: p.salt, pool: p.pool, manifestCid: p.manifestCid, sealedKeyHash: keccak256(p.dek), allow: p.allow ?? [p.poolPurpose], deny: p.deny ?? [], nonce: newNonce(), expiry: commandExpiry() },
      },
    }),
    'pool contribution',
  )
}
