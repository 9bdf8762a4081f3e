import { signUnpinOwn } from '../../../storage/upload-authorization.js'
import { requireAccount, type W3aClient } from '../../client.js'

export type UnpinMyUploadsParameters = { roots: readonly string[] }
/** What the storage node dropped: blocks and bytes deleted, blocks kept (a live dataset or another upload holds them), blocks already gone. */
export type UnpinMyUploadsReturnType = { account: string; roots: number; blocks: number; bytes: number; kept: number; missing: number }

/**
 * Asks the gateway's storage node to drop roots this account uploaded itself, signed by it
 * (storage/upload-authorization.ts, 'w3a-unpin-own-v1'). The node refuses the whole request if
 * one of the roots it holds was uploaded by someone else, and keeps any block a live dataset or
 * another upload still needs. Asking again drops nothing more.
 */
export async function unpinMyUploads(client: W3aClient, params: UnpinMyUploadsParameters): Promise<UnpinMyUploadsReturnType> {
  const account = requireAccount(client, 'an unpin')
  const { chainId } = await client.network()
  const roots = [...params.roots]
  const headers = await signUnpinOwn({ account, roots, chainId })
  return client.gateway.sendJson<UnpinMyUploadsReturnType>('/api/v1/blocks/unpin', { roots }, headers)
}
