import type { Hex } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { generateDatasetKey } from '../../../crypto/envelope.js'
import { POOL_UNIT_COLUMN, type ColumnTypes } from '../../../storage/index.js'
import { requireAccount, type W3aClient } from '../../client.js'
import type { PostOwnerCommandReturnType } from '../../custody-channel.js'
import { sealTable, type SealTableProgress } from '../../seal-table.js'
import { inspectDataset } from '../inspectDataset.js'
import { contributionSalt, contributionId } from './contributionId.js'
import { getPool } from './getPool.js'
import { postContribution } from './postContribution.js'
import { listMyContributions } from './listMyContributions.js'

export type ContributeToPoolParameters = {
  pool: Hex
  /** A .csv, .jsonl/.ndjson or .parquet file with exactly the pool's columns, in its order. */
  file: string
  /** Purposes the contributor consents to (default: the pool's own purpose); "*" = any. */
  allow?: string[]
  /** Purposes refused (a refusal wins over an allow). */
  deny?: string[]
  onProgress?: (p: SealTableProgress | { stage: 'validate' | 'custody'; done: number; total: number }) => void
}
export type ContributeToPoolReturnType = { id: Hex; index: number; manifestCid: string; rows: number; custody: PostOwnerCommandReturnType }

/**
 * Contributes rows to a pool from this machine: they are validated against the pool's schema
 * (names, order and types; the CSV is read as those types, a value that does not fit stops it,
 * naming the line), encrypted here under a new key of the contributor's own, stored, and the key
 * registered in custody sealed to the keepers, owned by the contributor, with the contributor's
 * consent (Contribute). The pool's curator gets no key and no plaintext; workers get the key
 * only for a job whose purpose the contributor consents to.
 */
export async function contributeToPool(client: W3aClient, params: ContributeToPoolParameters): Promise<ContributeToPoolReturnType> {
  const account = requireAccount(client, 'pool contribute')
  const progress = params.onProgress ?? (() => {})
  const pool = await getPool(client, { id: params.pool })
  if (pool.status === 'deleted') throw new W3aError('DATASET_NOT_ACTIVE', `pool ${params.pool} is deleted`)
  progress({ stage: 'validate', done: 0, total: 1 })
  const types = Object.fromEntries(pool.schema.columns.map((c) => [c.name, c.type])) as ColumnTypes
  const table = await inspectDataset({ file: params.file, types })
  const have = table.columns.map((c) => `${c.name}:${c.type}`).join(', ')
  const want = pool.schema.columns.map((c) => `${c.name}:${c.type}`).join(', ')
  if (have !== want) {
    throw new W3aError('INPUT_MALFORMED', `${params.file} does not have the pool's columns`, { details: [`pool: ${want}`, `file: ${have}`, `Do not add a "${POOL_UNIT_COLUMN}" column: the worker sets it to your address.`] })
  }
  if (table.rows === 0) throw new W3aError('INPUT_MALFORMED', `${params.file} has no rows`)
  progress({ stage: 'validate', done: 1, total: 1 })
  const network = await client.network()
  const index = (await listMyContributions(client, { pool: params.pool })).length
  const salt = contributionSalt(params.pool, index)
  const id = contributionId(account.address, params.pool, index)
  const dek = generateDatasetKey()
  try {
    const sealed = await sealTable(client, { account, chainId: network.chainId, id, dek, file: params.file, name: `${pool.name} contribution ${index}`, privacyUnit: null, rowsPerSegment: 1_000_000, types, onProgress: progress })
    progress({ stage: 'custody', done: 0, total: 1 })
    const manifestCid = sealed.manifestCid.toString()
    const custody = await postContribution(client, { account, id, salt, pool: params.pool, poolPurpose: pool.purpose, manifestCid, dek, ...(params.allow ? { allow: params.allow } : {}), ...(params.deny ? { deny: params.deny } : {}) })
    progress({ stage: 'custody', done: 1, total: 1 })
    return { id, index, manifestCid, rows: sealed.manifest.rows, custody }
  } finally {
    dek.fill(0)
  }
}
