import { stringToBytes, type Hex } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { DEFAULT_POLICY, policyHash } from '../../../custody/index.js'
import { getPolicySummary, setBuyerAccess, setDatasetPrice, setDatasetStatus, setPolicySummary, type DatasetStatus } from '../../../chain/portable.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { chainReader } from '../../custody-channel.js'
import { walletFor } from '../../wallet.js'
import { readDatasetAccess } from '../custody/readDatasetAccess.js'
import { requireDataset } from './dataset.js'
import { readTokenInfo, tokenAmount, type TokenAmount } from './token.js'

/** Market.MAX_POLICY_SUMMARY_BYTES. */
const MAX_SUMMARY_BYTES = 1024

export type ListOnMarketParameters = {
  id: Hex
  /** Price per usage credit (one query), token base units. Required to list an unlisted dataset (0 must be said). */
  price?: bigint
  /** Public summary of the policy analysts will buy under (≤ 1024 bytes); the enforced policy stays in custody. */
  summary?: string
  /**
   * Default true: before an unlisted dataset is listed, read the owner's confidential view from a
   * keeper and refuse (POLICY_NOT_SET) while its custody policy is still the default one set at
   * upload. The contracts cannot check this (the policy is not public); false skips it, for a
   * dataset registered on chain without custody (tests of the market alone).
   */
  requirePolicy?: boolean
}

export type ListOnMarketReturnType = {
  id: Hex
  status: DatasetStatus
  price: TokenAmount
  policySummary: string
  /** Transactions sent (a price equal to the current one sends none). */
  priceTx?: Hex
  summaryTx?: Hex
  /** The registry's setStatus(Active) that put an unlisted dataset on the market. */
  listTx?: Hex
  /** Market.setBuyerAccess(open) sent at listing because the custody policy is open access. */
  accessTx?: Hex
}

/**
 * Owner only: puts the dataset on the market, or changes its price and public policy summary.
 * A dataset is registered unlisted (nothing sells); listing it needs a price, a policy summary
 * (given now or published before) and, unless `requirePolicy: false`, a custody policy that is
 * not the default. Price and summary go on chain before the status, so no credit ever sells at
 * a price or under a summary the owner did not set. A paused dataset keeps its status.
 */
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
  const listing = dataset.status === 'unlisted'
  let openToBuyers = false
  const publishedSummary = (await getPolicySummary(publicClient, { market, datasetId: params.id })).summary
  if (listing) {
    const missing = [params.price === undefined ? 'a price (--price)' : null, params.summary === undefined && publishedSummary === '' ? 'a policy summary (--summary)' : null].filter((x) => x !== null)
    if (missing.length > 0) {
      throw new W3aError('INVALID_ARGUMENT', `dataset ${params.id} is not listed yet: listing it needs ${missing.join(' and ')}`, {
        details: [`w3a market list ${params.id} --price P --summary "k=…; ε budget …; dimensions …" --account N`],
      })
    }
    if (params.requirePolicy !== false) openToBuyers = await requireOwnPolicy(client, params.id)
  }

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
  // An open-access custody policy (no allow or deny list) opens the listing to every buyer; any
  // other policy lists for admitted buyers only (`w3a market access`), so nobody buys in vain.
  let accessTx: Hex | undefined
  if (openToBuyers) accessTx = (await setBuyerAccess(wallet, { market, datasetId: params.id, open: true })).hash
  let listTx: Hex | undefined
  if (listing) listTx = (await setDatasetStatus(wallet, { registry: datasetRegistry, id: params.id, status: 'active' })).hash
  return {
    id: params.id,
    status: listing ? 'active' : dataset.status,
    price: tokenAmount(price, await readTokenInfo(publicClient, network.chainId, token)),
    policySummary: params.summary ?? publishedSummary,
    ...(priceTx === undefined ? {} : { priceTx }),
    ...(summaryTx === undefined ? {} : { summaryTx }),
    ...(listTx === undefined ? {} : { listTx }),
    ...(accessTx === undefined ? {} : { accessTx }),
  }
}

/** POLICY_NOT_SET while the keepers still hold the default policy of a fresh upload; else whether it is open to every buyer. */
async function requireOwnPolicy(client: W3aClient, id: Hex): Promise<boolean> {
  const view = await readDatasetAccess(client, { id })
  if (policyHash(view.policy) === policyHash(DEFAULT_POLICY)) {
    throw new W3aError('POLICY_NOT_SET', `dataset ${id} still has the default custody policy: set yours before listing it`, {
      details: [
        `w3a dataset policy ${id} --dimensions COLS --measures COLS --k 10 --epsilon-budget 5 [--open-access] --account N`,
        'Analysts would otherwise buy credits under a policy nobody chose (the default releases only counts, to grantees).',
      ],
    })
  }
  return view.policy.openAccess && view.policy.buyerAllow.length === 0 && view.policy.buyerDeny.length === 0
}
