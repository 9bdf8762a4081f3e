import type { Hex } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { POOL_UNIT_COLUMN } from '../../../storage/pool-descriptor.js'
import { requireAccount, type W3aClient } from '../../client.js'
import type { PostOwnerCommandReturnType } from '../../custody-channel.js'
import { sealParquetSegments, type SealParquetProgress } from '../../seal-parquet-web.js'
import { storeManifest } from '../../store-manifest.js'
import { contributionId, contributionSalt } from './contributionId.js'
import { getPool } from './getPool.js'
import { listMyContributions } from './listMyContributions.js'
import { postContribution } from './postContribution.js'

export type ContributeParquetParameters = {
  pool: Hex
  /** Parquet segments held in memory (e.g. written in a page from a CSV), with their row counts. */
  segments: { parquet: Uint8Array; rows: number }[]
  /** Their columns, with DuckDB type names: exactly the pool's, in its order. */
  columns: { name: string; type: string }[]
  /** Purposes the contributor consents to (default: the pool's own purpose); "*" = any. */
  allow?: string[]
  /** Purposes refused (a refusal wins over an allow). */
  deny?: string[]
  onProgress?: (p: SealParquetProgress | { stage: 'custody'; done: number; total: number }) => void
}
export type ContributeParquetReturnType = { id: Hex; index: number; manifestCid: string; rows: number; custody: PostOwnerCommandReturnType }

/**
 * Contributes rows to a pool from a browser (no file system, no DuckDB): the declared columns
 * must be the pool's; the rows are sealed in the page under a new key of the contributor's own
 * (Web Crypto), stored, and the key registered in custody with the contributor's consent, as
 * `contributeToPool` does from a file. Only ciphertext and public metadata leave the page. The
 * worker checks every contribution against the pool's schema again and leaves out (and does not
 * pay) one that does not fit.
 */
export async function contributeParquet(client: W3aClient, params: ContributeParquetParameters): Promise<ContributeParquetReturnType> {
  const account = requireAccount(client, 'pool contribute')
  const pool = await getPool(client, { id: params.pool })
  if (pool.status === 'deleted') throw new W3aError('DATASET_NOT_ACTIVE', `pool ${params.pool} is deleted`)
  const have = params.columns.map((c) => `${c.name}:${c.type}`).join(', ')
  const want = pool.schema.columns.map((c) => `${c.name}:${c.type}`).join(', ')
  if (have !== want) throw new W3aError('INPUT_MALFORMED', "these rows do not have the pool's columns", { details: [`pool: ${want}`, `rows: ${have}`, `Do not add a "${POOL_UNIT_COLUMN}" column: the worker sets it to your address.`] })
  const rows = params.segments.reduce((a, s) => a + s.rows, 0)
  if (rows === 0) throw new W3aError('INPUT_MALFORMED', 'no rows to contribute')
  const progress = params.onProgress ?? (() => {})
  const network = await client.network()
  const index = (await listMyContributions(client, { pool: params.pool })).length
  const salt = contributionSalt(params.pool, index)
  const id = contributionId(account.address, params.pool, index)
  const dek = crypto.getRandomValues(new Uint8Array(32))
  try {
    const { segments, chunkSize } = await sealParquetSegments(client, { id, dek, segments: params.segments, onProgress: progress })
    const stored = await storeManifest(client, { account, chainId: network.chainId, id, dek, name: `${pool.name} contribution ${index}`, columns: params.columns, privacyUnit: null, rows, segments, chunkSize })
    progress({ stage: 'custody', done: 0, total: 1 })
    const manifestCid = stored.manifestCid.toString()
    const custody = await postContribution(client, { account, id, salt, pool: params.pool, poolPurpose: pool.purpose, manifestCid, dek, ...(params.allow ? { allow: params.allow } : {}), ...(params.deny ? { deny: params.deny } : {}) })
    progress({ stage: 'custody', done: 1, total: 1 })
    return { id, index, manifestCid, rows, custody }
  } finally {
    dek.fill(0)
  }
}
