import { bytesToHex, type Hex } from 'viem'
import { randomBytes } from 'node:crypto'
import { generateDatasetKey } from '../../crypto/envelope.js'
import type { ColumnTypes } from '../../storage/index.js'
import { datasetIdFor } from '../../chain/portable.js'
import { requireAccount, type W3aClient } from '../client.js'
import { registerStoredDataset } from '../publish-dataset.js'
import { sealTable } from '../seal-table.js'
import { inspectDataset } from './inspectDataset.js'

export type UploadProgress = { stage: 'inspect' | 'segment' | 'encrypt' | 'upload' | 'register' | 'custody'; done: number; total: number }

export type UploadDatasetParameters = {
  /** A .csv, .jsonl/.ndjson or .parquet file on this machine. */
  file: string
  name: string
  /** Column whose values identify one privacy unit (a person); default: each row is its own unit. */
  privacyUnit?: string
  rowsPerSegment?: number
  /** Declared CSV column types (inspectDataset); a value that does not fit stops the upload, naming its line. */
  types?: ColumnTypes
  /** Upload a column that is numbers but for a few values as text anyway (else COLUMN_TYPE_SUSPECT). */
  acceptText?: boolean
  onProgress?: (p: UploadProgress) => void
  /** Called with the inferred schema before anything is encrypted or sent. */
  onSchema?: (schema: { columns: { name: string; type: string }[]; rows: number; format: string }) => void
}

export type UploadDatasetReturnType = {
  id: Hex
  manifestCid: string
  rows: number
  columns: { name: string; type: string }[]
  segments: number
  /** Bytes of the encrypted segments (what a storage order reserves on each node). */
  sizeBytes: number
  tx: Hex
  /** The custody inbox entry that registered the dataset key, and the keeper that signed its receipt. */
  custody: { index: bigint; keeper: Hex; tx: Hex }
}

const DEFAULT_ROWS_PER_SEGMENT = 1_000_000
/**
 * Encrypts a table on this machine and publishes it: plaintext Parquet segments are written
 * to a private temp dir (owner's side), each is sealed with the dataset key, imported as a
 * UnixFS DAG and sent to the gateway as a CAR; the manifest carries the dataset key wrapped
 * to the owner's wallet-derived key; the dataset is then registered on chain.
 * The gateway and storage only ever receive ciphertext and public metadata.
 */
export async function uploadDataset(client: W3aClient, params: UploadDatasetParameters): Promise<UploadDatasetReturnType> {
  const account = requireAccount(client, 'dataset upload')
  const progress = params.onProgress ?? (() => {})

  // The file first: a bad schema stops the upload before any network call.
  progress({ stage: 'inspect', done: 0, total: 1 })
  const privacyUnit = params.privacyUnit ?? null
  const table = await inspectDataset({
    file: params.file,
    ...(privacyUnit !== null ? { privacyUnit } : {}),
    ...(params.types ? { types: params.types } : {}),
    ...(params.acceptText !== undefined ? { acceptText: params.acceptText } : {}),
  })
  params.onSchema?.({ columns: table.columns, rows: table.rows, format: table.format })
  progress({ stage: 'inspect', done: 1, total: 1 })
  const network = await client.network()

  // The id is derived from the owner and a random salt (no front-running), before encryption binds it.
  const salt = bytesToHex(randomBytes(32))
  const id = datasetIdFor(account.address, salt)
  const dek = generateDatasetKey()
  try {
    const sealed = await sealTable(client, {
      account,
      chainId: network.chainId,
      id,
      dek,
      file: params.file,
      name: params.name,
      privacyUnit,
      rowsPerSegment: params.rowsPerSegment ?? DEFAULT_ROWS_PER_SEGMENT,
      ...(params.types ? { types: params.types } : {}),
      onProgress: progress,
    })
    const published = await registerStoredDataset(client, {
      id,
      salt,
      dek,
      name: params.name,
      manifestCid: sealed.manifestCid.toString(),
      schema: sealed.manifest.schema,
      onStage: (stage, done) => progress({ stage, done: done ? 1 : 0, total: 1 }),
    })
    return {
      id,
      manifestCid: published.manifestCid,
      rows: sealed.manifest.rows,
      columns: sealed.manifest.schema.columns,
      segments: sealed.manifest.segments.length,
      sizeBytes: sealed.manifest.segments.reduce((sum, s) => sum + s.size, 0),
      tx: published.tx,
      custody: published.custody,
    }
  } finally {
    dek.fill(0)
  }
}
