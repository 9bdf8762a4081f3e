import { stringToBytes, type Hex } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { getPolicySummary, setDatasetPrice, setPolicySummary, type DatasetStatus } from '../../../chain/portable.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'
import { walletFor } from '../../wallet.js'
import { requireDataset } from './dataset.js'
import { readTokenInfo, tokenAmount, type TokenAmount } from './token.js'

/** Market.MAX_POLICY_SUMMARY_BYTES. */
const MAX_SUMMARY_BYTES = 1024

export type ListOnMarketParameters = {
  id: Hex
  /** Price per usage credit (one query), token base units. */
  price?: bigint
  /** Public summary of the policy analysts will buy under (≤ 1024 bytes); the enforced policy stays in custody. */
  summary?: string
}

export type ListOnMarketReturnType = {
  id: Hex
  status: DatasetStatus
  price: TokenAmount
  policySummary: string
  /** Transactions sent (a price equal to the current one sends none). */
  priceTx?: Hex
  summaryTx?: Hex
}

/** Owner only: sets the dataset's price and its public policy summary on the market. */
export async function listOnMarket(client: W3aClient, params: ListOnMarketParameters): Promise<ListOnMarketReturnType> {
  const account = requireAccount(client, 'market list')
  if (params.price === undefined && params.summary === undefined) {
    throw new W3aError('INVALID_ARGUMENT', 'give a price, a policy summary, or both')
  }
  if (params.price !== undefined && params.price < 0n) throw new W3aError('INVALID_ARGUMENT', `price must not be negative, got ${params.price}`)
  if (params.summary !== undefined && stringToBytes(params.summary).length > MAX_SUMMARY_BYTES) {
    throw new W3aError('INVALID_ARGUMENT', `the policy summary is ${stringToBytes(params.summary).length} bytes; the market takes at most ${MAX_SUMMARY_BYTES}`, {
      details: ['Publish a longer text elsewhere and put its URI and hash in the summary.'],
    })
  }
  const { network, publicClient } = await chainReader(client)
  const { market, datasetRegistry, token } = network.contracts
  // Checked first so that a wrong id or account sends nothing and says why.
  const dataset = await requireDataset(publicClient, datasetRegistry, params.id)
  if (dataset.owner.toLowerCase() !== account.address.toLowerCase()) {
    throw new W3aError('NOT_OWNER', `dataset ${params.id} belongs to ${dataset.owner}, not to ${account.address}`)
  }
  if (dataset.status === 'deleted') throw new W3aError('DATASET_NOT_ACTIVE', `dataset ${params.id} is deleted and cannot be listed`)

  const wallet = walletFor(network, account)
  let priceTx: Hex | undefined
  let price = dataset.pricePerQuery
  if (params.price !== undefined && params.price !== dataset.pricePerQuery) {
    const r = await setDatasetPrice(wallet, { registry: datasetRegistry, id: params.id, pricePerQuery: params.price })
    priceTx = r.hash
    price = r.newPrice
  }
  let summaryTx: Hex | undefined
  if (params.summary !== undefined) summaryTx = (await setPolicySummary(wallet, { market, datasetId: params.id, summary: params.summary })).hash
  const policySummary = params.summary ?? (await getPolicySummary(publicClient, { market, datasetId: params.id })).summary
  return {
    id: params.id,
    status: dataset.status,
    price: tokenAmount(price, await readTokenInfo(publicClient, network.chainId, token)),
    policySummary,
    ...(priceTx === undefined ? {} : { priceTx }),
    ...(summaryTx === undefined ? {} : { summaryTx }),
  }
}
