import type { Address } from 'viem'
import type { W3aClient } from '../client.js'
import type { DatasetRecord } from './getDatasetInfo.js'

export type ListDatasetsParameters = { owner?: Address }
export type ListDatasetsReturnType = DatasetRecord[]

export async function listDatasets(client: W3aClient, params: ListDatasetsParameters = {}): Promise<ListDatasetsReturnType> {
  const q = params.owner ? `?owner=${params.owner}` : ''
  return (await client.gateway.getJson<{ datasets: DatasetRecord[] }>(`/api/v1/datasets${q}`)).datasets
}
