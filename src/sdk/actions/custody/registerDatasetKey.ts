import { keccak256, type Hex } from 'viem'
import { requireAccount, type W3aClient } from '../../client.js'
import { assertApplied, commandExpiry, newNonce, postOwnerCommand, type PostOwnerCommandReturnType } from '../../custody-channel.js'

export type RegisterDatasetKeyParameters = { id: Hex; salt: Hex; manifestCid: string; dek: Uint8Array }
export type RegisterDatasetKeyReturnType = PostOwnerCommandReturnType

/**
 * Hands the dataset key to the custody contract: sealed to the current epoch key, so only
 * attested keepers can open it; the owner's signature covers keccak256(dek), so nobody can
 * swap the key in transit.
 */
export async function registerDatasetKey(client: W3aClient, params: RegisterDatasetKeyParameters): Promise<RegisterDatasetKeyReturnType> {
  const account = requireAccount(client, 'register dataset key')
  const out = await postOwnerCommand(client, {
    account,
    dek: params.dek,
    command: {
      type: 'RegisterDataset',
      message: { datasetId: params.id, salt: params.salt, manifestCid: params.manifestCid, sealedKeyHash: keccak256(params.dek), nonce: newNonce(), expiry: commandExpiry() },
    },
  })
  return assertApplied(out, 'dataset key registration')
}
