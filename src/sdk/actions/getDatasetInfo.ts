import type { Hex } from 'viem'
import type { W3aClient } from '../client.js'

/** Public on-chain record of a dataset, as the gateway serves it (bigints come as strings). */
export type DatasetRecord = {
  id: Hex
  owner: Hex
  name: string
  manifestCid: string
  schemaHash: Hex
  pricePerQuery: string
  status: 'active' | 'paused' | 'deleted' | 'unlisted'
  createdAt: number
  updatedAt: number
}

/** The public part of a manifest (no key material beyond wrapped ciphertext, no values). */
export type PublicManifest = {
  name: string
  format: string
  schema: { columns: { name: string; type: string }[] }
  privacyUnit: string | null
  rows: number
  segments: { cid: string; rows: number; size: number }[]
  createdAt: string
}

export type GetDatasetInfoParameters = { id: Hex }
export type GetDatasetInfoReturnType = { dataset: DatasetRecord; manifest: PublicManifest | null }

export async function getDatasetInfo(client: W3aClient, params: GetDatasetInfoParameters): Promise<GetDatasetInfoReturnType> {
  return client.gateway.getJson<GetDatasetInfoReturnType>(`/api/v1/datasets/${params.id}`)
}
