import type { Hex } from 'viem'
import { W3aError, isW3aError } from '../../../core/errors.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { assertApplied, commandExpiry, newNonce, postOwnerCommand, type PostOwnerCommandReturnType } from '../../custody-channel.js'
import { fetchManifest } from '../../fetch-manifest.js'
import { readDatasetAccess } from '../custody/readDatasetAccess.js'
import { unpinMyUploads, type UnpinMyUploadsReturnType } from '../storage/unpinMyUploads.js'

export type DeleteContributionParameters = { id: Hex }
/** What the gateway's storage node dropped of the contribution: its manifest and segment roots. */
export type ContributionUnpinned = UnpinMyUploadsReturnType & { manifestCid: string; segments: string[] }
export type DeleteContributionReturnType = PostOwnerCommandReturnType & { unpinned: ContributionUnpinned }

/**
 * Deletes a contribution: the keepers shred its key (the signed receipt names the epoch after
 * which no copy of it can be opened by anyone) and drop it from its pool, so no later job reads
 * it; then the gateway's storage node drops its segments and manifest (unpinContribution).
 */
export async function deleteContribution(client: W3aClient, params: DeleteContributionParameters): Promise<DeleteContributionReturnType> {
  const account = requireAccount(client, 'pool delete')
  const out = assertApplied(await postOwnerCommand(client, { account, command: { type: 'Delete', message: { datasetId: params.id, nonce: newNonce(), expiry: commandExpiry() } } }), 'contribution deletion')
  try {
    return { ...out, unpinned: await unpinContribution(client, params) }
  } catch (e) {
    const cause = isW3aError(e) ? e : new W3aError('INTERNAL', String((e as Error)?.message ?? e))
    throw new W3aError(cause.code, `contribution ${params.id} is deleted in custody (inbox entry ${out.index}), but its blocks were not unpinned: ${cause.shortMessage}`, {
      details: [...cause.details, 'Run `w3a pool delete ID` again (or unpinContribution): a deleted contribution is only unpinned.'],
      cause: e,
    })
  }
}

/**
 * Asks the gateway's storage node to drop a contribution of this account: its manifest and
 * every segment it names (the manifest CID from custody, the segments from the manifest, checked
 * against its CID). The node drops only roots this account uploaded; asking again drops nothing
 * more. For a contribution deleted in custody (its key is gone, so the blocks are dead weight).
 */
export async function unpinContribution(client: W3aClient, params: DeleteContributionParameters): Promise<ContributionUnpinned> {
  const { manifestCid } = await readDatasetAccess(client, { id: params.id })
  let segments: string[] = []
  try {
    const manifest = await fetchManifest(client, manifestCid)
    if (manifest.datasetId.toLowerCase() !== params.id.toLowerCase()) throw new W3aError('MANIFEST_MALFORMED', `manifest ${manifestCid} is for ${manifest.datasetId}, not contribution ${params.id}`)
    segments = manifest.segments.map((s) => s.cid.toString())
  } catch (e) {
    // Unpinned before (a retry): the manifest alone is named, and counts as missing.
    if (!isW3aError(e, 'BLOCK_NOT_FOUND')) throw e
  }
  return { manifestCid, segments, ...(await unpinMyUploads(client, { roots: [manifestCid, ...segments] })) }
}
