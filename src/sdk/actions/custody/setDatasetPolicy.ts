import type { Hex } from 'viem'
import { checkPolicyColumns, parsePolicy, policyHash, type CustodyPolicy, type CustodyPolicyInput } from '../../../custody/index.js'
import { getDatasetInfo } from '../getDatasetInfo.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { assertApplied, commandExpiry, newNonce, postOwnerCommand, type PostOwnerCommandReturnType } from '../../custody-channel.js'

export type SetDatasetPolicyParameters = { id: Hex; policy: CustodyPolicy | CustodyPolicyInput }
export type SetDatasetPolicyReturnType = PostOwnerCommandReturnType

/**
 * Replaces the dataset's policy (k threshold, ε budget and per-query terms, measure bounds,
 * exact opt-in, analyses, buyer lists, algorithms, column classes). Refused before anything is
 * sent: an invalid or unsafe policy (INVALID_ARGUMENT / POLICY_INVALID), and one that names a
 * column the dataset's manifest does not have (POLICY_INVALID, listing the columns).
 */
export async function setDatasetPolicy(client: W3aClient, params: SetDatasetPolicyParameters): Promise<SetDatasetPolicyReturnType> {
  const account = requireAccount(client, 'policy')
  const policy = parsePolicy(params.policy)
  const { manifest } = await getDatasetInfo(client, { id: params.id })
  if (manifest !== null) checkPolicyColumns(policy, manifest.schema.columns.map((c) => c.name))
  const out = await postOwnerCommand(client, {
    account,
    policy,
    command: { type: 'SetPolicy', message: { datasetId: params.id, policyHash: policyHash(policy), nonce: newNonce(), expiry: commandExpiry() } },
  })
  return assertApplied(out, 'policy change')
}
