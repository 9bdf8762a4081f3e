import type { Hex } from 'viem'
import { policyHash, CustodyPolicySchema, type CustodyPolicy } from '../../../custody/index.js'
import { W3aError } from '../../../core/errors.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { assertApplied, commandExpiry, newNonce, postOwnerCommand, type PostOwnerCommandReturnType } from '../../custody-channel.js'

export type SetDatasetPolicyParameters = { id: Hex; policy: CustodyPolicy }
export type SetDatasetPolicyReturnType = PostOwnerCommandReturnType

/** Replaces the dataset's policy (k threshold, ε budget, analyses, buyer lists, algorithms, column classes). */
export async function setDatasetPolicy(client: W3aClient, params: SetDatasetPolicyParameters): Promise<SetDatasetPolicyReturnType> {
  const account = requireAccount(client, 'policy')
  const parsed = CustodyPolicySchema.safeParse(params.policy)
  if (!parsed.success) throw new W3aError('INVALID_ARGUMENT', `policy is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  const out = await postOwnerCommand(client, {
    account,
    policy: parsed.data,
    command: { type: 'SetPolicy', message: { datasetId: params.id, policyHash: policyHash(parsed.data), nonce: newNonce(), expiry: commandExpiry() } },
  })
  return assertApplied(out, 'policy change')
}
