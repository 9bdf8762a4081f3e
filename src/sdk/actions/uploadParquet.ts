import { bytesToHex, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { datasetIdFor } from '../../chain/dataset.js'
import { checkPrivacyUnit } from '../../storage/privacy-unit.js'
import { requireAccount, type W3aClient } from '../client.js'
import { publishDataset } from '../publish-dataset.js'
import { sealParquetSegments } from '../seal-parquet-web.js'

export type UploadParquetProgress = { stage: 'encrypt' | 'upload' | 'register' | 'custody'; done: number; total: number }

export type UploadParquetParameters = {
  name: string
  /** Parquet files of one schema (the dataset's segments), with their row counts. */
  segments: { parquet: Uint8Array; rows: number }[]
  /** Their columns, with DuckDB type names (as `w3a dataset upload` records them). */
  columns: { name: string; type: string }[]
  /** Column whose values identify one privacy unit (a person); default: each row is its own unit. */
  privacyUnit?: string
  onProgress?: (p: UploadParquetProgress) => void
}

export type UploadParquetReturnType = { id: Hex; manifestCid: string; rows: number; segments: number; tx: Hex; custody: { index: bigint; keeper: Hex; tx: Hex } }

/**
 * The browser's upload (no file system, no DuckDB): Parquet segments already in memory are
 * sealed with a fresh dataset key on Web Crypto, each sent as a CAR of its UnixFS DAG, then
 * published as `uploadDataset` does (publish-dataset.ts). Only ciphertext and public metadata
 * leave the page. The plaintext segments are zeroed once sealed.
 */
export async function uploadParquet(client: W3aClient, params: UploadParquetParameters): Promise<UploadParquetReturnType> {
  const account = requireAccount(client, 'dataset upload')
  if (!params.name.trim()) throw new W3aError('INVALID_ARGUMENT', 'The dataset needs a name')
  if (params.segments.length === 0) throw new W3aError('INVALID_ARGUMENT', 'Nothing to upload: no segment')
  if (params.columns.length === 0) throw new W3aError('INVALID_ARGUMENT', 'The table has no column')
  const privacyUnit = params.privacyUnit ?? null
  if (privacyUnit !== null) checkPrivacyUnit(params.columns, privacyUnit)
  const progress = params.onProgress ?? (() => {})
  await client.network() // the gateway answers before anything is encrypted

  // The id is derived from the owner and a random salt (no front-running), before encryption binds it.
  const salt = bytesToHex(crypto.getRandomValues(new Uint8Array(32)))
  const id = datasetIdFor(account.address, salt)
  const dek = crypto.getRandomValues(new Uint8Array(32))
  const total = params.segments.length
  try {
    const { segments, chunkSize } = await sealParquetSegments(client, { id, dek, segments: params.segments, onProgress: progress })
    const rows = params.segments.reduce((a, s) => a + s.rows, 0)
    const published = await publishDataset(client, {
      id,
      salt,
      dek,
      name: params.name,
      columns: params.columns,
      privacyUnit,
      rows,
      segments,
      chunkSize,
      onStage: (stage, done) => progress({ stage, done: done ? 1 : 0, total: 1 }),
    })
    return { id, manifestCid: published.manifestCid, rows, segments: total, tx: published.tx, custody: published.custody }
  } finally {
    dek.fill(0)
  }
}
