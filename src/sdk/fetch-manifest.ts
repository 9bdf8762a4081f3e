import { CID } from 'multiformats/cid'
import { decodeManifest, type DatasetManifest } from '../storage/manifest.js'
import { verifyBlock } from '../storage/verify-block.js'
import type { W3aClient } from './client.js'

/** Fetches a manifest block and checks it against its CID: the gateway is not trusted for integrity. Portable. */
export async function fetchManifest(client: W3aClient, cid: string): Promise<DatasetManifest> {
  const parsed = CID.parse(cid)
  const bytes = await client.gateway.getBytes(`/ipfs/${parsed.toString()}?format=raw`, 'application/vnd.ipld.raw')
  await verifyBlock(parsed, bytes)
  return decodeManifest(bytes)
}
