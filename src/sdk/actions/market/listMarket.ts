import type { Address, Hex } from 'viem'
// Leaf modules, not the chain barrel: the dashboard's first screen bundles only what this reads.
import { listDatasets } from '../../../chain/actions/listDatasets.js'
import { getPolicySummary } from '../../../chain/actions/getPolicySummary.js'
import type { DatasetStatus } from '../../../chain/dataset.js'
import type { W3aClient } from '../../client.js'
import { chainReadOnly } from '../../chain-reader.js'
import { getDatasetInfo } from '../getDatasetInfo.js'
import { readTokenInfo, tokenAmount, type TokenAmount } from './token.js'

export type MarketListing = {
  id: Hex
  name: string
  owner: Address
  status: DatasetStatus
  /** Price of one usage credit (one query). */
  price: TokenAmount
  /** The owner's public policy summary ('' when none was published). */
  policySummary: string
  manifestCid: string
  schemaHash: Hex
  /** From the public manifest, when the gateway holds its block. */
  rows?: number
  columns?: { name: string; type: string }[]
}

export type ListMarketParameters = {
  owner?: Address
  /** Default: active and paused, the listed ones (unlisted datasets sell nothing yet, deleted ones never). */
  status?: DatasetStatus | readonly DatasetStatus[]
  /** Default true: also read rows and schema from each public manifest (one gateway call each). */
  manifests?: boolean
}

export type ListMarketReturnType = MarketListing[]

/** Datasets on the market with their price, public policy summary and, when cheap, their schema. */
export async function listMarket(client: W3aClient, params: ListMarketParameters = {}): Promise<ListMarketReturnType> {
  const { network, publicClient } = await chainReadOnly(client)
  const { market, datasetRegistry, token } = network.contracts
  const [info, datasets] = await Promise.all([
    readTokenInfo(publicClient, network.chainId, token),
    listDatasets(publicClient, {
      registry: datasetRegistry,
      status: params.status ?? ['active', 'paused'],
      ...(params.owner === undefined ? {} : { owner: params.owner }),
    }),
  ])
  return Promise.all(
    datasets.map(async (d): Promise<MarketListing> => {
      const [{ summary }, manifest] = await Promise.all([
        getPolicySummary(publicClient, { market, datasetId: d.id }),
        // Optional detail: a manifest the gateway cannot serve must not hide the listing.
        params.manifests === false ? null : getDatasetInfo(client, { id: d.id }).then((i) => i.manifest, () => null),
      ])
      return {
        id: d.id,
        name: d.name,
        owner: d.owner,
        status: d.status,
        price: tokenAmount(d.pricePerQuery, info),
        policySummary: summary,
        manifestCid: d.manifestCid,
        schemaHash: d.schemaHash,
        ...(manifest ? { rows: manifest.rows, columns: manifest.schema.columns } : {}),
      }
    }),
  )
}
