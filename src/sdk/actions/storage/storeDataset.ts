import type { Address, Hash, Hex } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { placeStorageOrder } from '../../../chain/portable.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { chainReader } from '../../chain-reader.js'
import { walletFor } from '../../wallet.js'
import { getDatasetInfo } from '../getDatasetInfo.js'
import { readTokenInfo, tokenAmount, type TokenAmount } from '../market/token.js'

/** Defaults of a storage order: 3 nodes, 100 eras, 0.1 token (18 decimals) per era: 10 tokens escrowed. */
export const STORAGE_ORDER_DEFAULTS = { replication: 3, eras: 100, pricePerEra: 10n ** 17n } as const

export type StoreDatasetParameters = {
  id: Hex
  /** Nodes of distinct operators (default 3). */
  replication?: number
  /** Eras paid for (default 100; an era is the StorageMarket's eraLength blocks). */
  eras?: number
  /** Token base units per era (default 0.1 token), split among the nodes that proved it. */
  pricePerEra?: bigint
  /** The manifest CID and byte size when the caller has them (an upload does); else read from the gateway. */
  manifestCid?: string
  sizeBytes?: bigint
}

export type StoreDatasetReturnType = { id: Hex; orderId: bigint; nodes: Address[]; escrow: TokenAmount; tx: Hash }

/**
 * Places a storage order for the client's own dataset: its manifest CID is the one root (the
 * manifest links every segment, so its DAG is the whole dataset), its size the encrypted
 * segments' bytes. Escrows eras × pricePerEra (approving the StorageMarket when needed).
 * TX_REVERTED NotEnoughStorageNodes when fewer eligible storage nodes of distinct operators
 * have room than `replication`.
 */
export async function storeDataset(client: W3aClient, params: StoreDatasetParameters): Promise<StoreDatasetReturnType> {
  const account = requireAccount(client, 'store a dataset')
  const { network, publicClient } = await chainReader(client)
  let { manifestCid, sizeBytes } = params
  if (manifestCid === undefined || sizeBytes === undefined) {
    const info = await getDatasetInfo(client, { id: params.id })
    if (info.manifest === null) throw new W3aError('BLOCK_NOT_FOUND', `the manifest of dataset ${params.id} is not held by this gateway`, { details: ['pass its manifest CID and size, or use the gateway it was uploaded to'] })
    manifestCid = info.dataset.manifestCid
    sizeBytes = BigInt(info.manifest.segments.reduce((sum, s) => sum + s.size, 0))
  }
  const info = await readTokenInfo(publicClient, network.chainId, network.contracts.token)
  const pricePerEra = params.pricePerEra ?? STORAGE_ORDER_DEFAULTS.pricePerEra
  const eras = params.eras ?? STORAGE_ORDER_DEFAULTS.eras
  const r = await placeStorageOrder(walletFor(network, account), {
    storageMarket: network.contracts.storageMarket,
    datasetId: params.id,
    roots: [manifestCid],
    sizeBytes: sizeBytes > 0n ? sizeBytes : 1n,
    replication: params.replication ?? STORAGE_ORDER_DEFAULTS.replication,
    eras,
    pricePerEra,
  })
  return { id: params.id, orderId: r.orderId, nodes: r.nodes, escrow: tokenAmount(r.escrow, info), tx: r.hash }
}
