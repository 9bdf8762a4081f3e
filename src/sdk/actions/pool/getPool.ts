import type { Hex } from 'viem'
import { CID } from 'multiformats/cid'
import { datasetRegistryAbi } from '../../../chain/portable.js'
import { W3aError } from '../../../core/errors.js'
import { decodePoolDescriptor, type PoolDescriptor } from '../../../storage/pool-descriptor.js'
import { verifyBlock } from '../../../storage/verify-block.js'
import type { W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'
import { requireDataset } from '../market/dataset.js'

export type GetPoolParameters = { id: Hex }
export type GetPoolReturnType = PoolDescriptor & { curator: Hex; manifestCid: string; status: string }

/** A pool's public descriptor (schema, purpose), fetched through the gateway and checked against its CID on chain. */
export async function getPool(client: W3aClient, params: GetPoolParameters): Promise<GetPoolReturnType> {
  const { network, publicClient } = await chainReader(client)
  const registry = network.contracts.datasetRegistry
  const d = await requireDataset(publicClient, registry, params.id)
  const isPool = await publicClient.readContract({ address: registry, abi: datasetRegistryAbi, functionName: 'isPool', args: [params.id] })
  if (!isPool) throw new W3aError('INVALID_ARGUMENT', `dataset ${params.id} is not a pool`, { details: ['Pools are made with `w3a pool create`.'] })
  const cid = CID.parse(d.manifestCid)
  const bytes = await client.gateway.getBytes(`/ipfs/${cid}?format=raw`, 'application/vnd.ipld.raw')
  await verifyBlock(cid, bytes)
  const descriptor = decodePoolDescriptor(bytes)
  if (descriptor.poolId.toLowerCase() !== params.id.toLowerCase()) throw new W3aError('MANIFEST_MALFORMED', 'the pool descriptor names another pool')
  return { ...descriptor, curator: d.owner, manifestCid: d.manifestCid, status: d.status }
}
