/**
 * A pool job's data in the worker enclave: the pool's descriptor (its schema) and, for each
 * contribution custody released (src/custody/pool.ts), its manifest and segments, every block
 * checked against its CID and decrypted with that contribution's own key into anonymous memory
 * files; then the job's input made from them (analysis/pool-inputs.ts: schema checked, the
 * contributor set as each row's unit). A contribution whose manifest or segments cannot be
 * fetched, verified or decrypted is left out of the job (and of its royalties), never allowed to
 * fail the others. No cache: each contribution's key is released per job, and a contributor's
 * withdrawal or deletion must hold from the next job on.
 */
import { CID } from 'multiformats/cid'
import type { Address, Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import { carFetcher } from './car-fetch.js'
import { buildPoolInputs, createMemoryFiles, loadSegments, type PoolInputs } from '../analysis/index.js'
import { decodeManifest, decodePoolDescriptor, verifyBlock, POOL_UNIT_COLUMN, type ColumnSchema } from '../storage/index.js'

export type PoolRelease = { manifestCid: string; contributions: { datasetId: Hex; owner: Address; manifestCid: string; dek: Uint8Array }[] }

export type PoolData = PoolInputs & {
  /** The pool's columns and the contributor, as the analysis sees them. */
  schema: ColumnSchema[]
  release(): Promise<void>
}

export async function openPoolData(p: {
  poolId: Hex
  release: PoolRelease
  fetchBytes: (url: string) => Promise<Uint8Array>
  gatewayUrl: string
  memoryDir?: string
}): Promise<PoolData> {
  const descriptorCid = CID.parse(p.release.manifestCid)
  const bytes = await p.fetchBytes(`${p.gatewayUrl}/ipfs/${descriptorCid}?format=raw`)
  await verifyBlock(descriptorCid, bytes)
  const descriptor = decodePoolDescriptor(bytes)
  if (descriptor.poolId.toLowerCase() !== p.poolId.toLowerCase()) throw new W3aError('MANIFEST_MALFORMED', 'the pool descriptor is for another pool')
  const decrypted = createMemoryFiles(p.memoryDir)
  const normalized = createMemoryFiles(p.memoryDir)
  try {
    const inputs = []
    for (const c of p.release.contributions) {
      try {
        const cid = CID.parse(c.manifestCid)
        const manifestBytes = await p.fetchBytes(`${p.gatewayUrl}/ipfs/${cid}?format=raw`)
        await verifyBlock(cid, manifestBytes)
        const manifest = decodeManifest(manifestBytes)
        if (manifest.datasetId.toLowerCase() !== c.datasetId.toLowerCase()) throw new W3aError('MANIFEST_MALFORMED', 'manifest of another dataset')
        const { files } = await loadSegments({
          manifest,
          dek: c.dek,
          memory: decrypted,
          fetchCar: carFetcher(p.gatewayUrl),
        })
        inputs.push({ owner: c.owner, files })
      } catch {
        // This contribution is unavailable (unpinned, tampered, not decryptable): left out.
        inputs.push({ owner: c.owner, files: [] })
      }
    }
    const built = await buildPoolInputs({ inputs, schema: descriptor.schema.columns, memory: normalized })
    // The per-contribution plaintext is no longer needed: only the normalized copies stay.
    await decrypted.close()
    await normalized.seal()
    return { ...built, schema: [...descriptor.schema.columns, { name: POOL_UNIT_COLUMN, type: 'VARCHAR' }], release: () => normalized.close() }
  } catch (e) {
    await decrypted.close()
    await normalized.close()
    throw e
  }
}
