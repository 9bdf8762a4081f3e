/**
 * A storage node settles the due eras of its orders itself, so its operator is paid without a
 * manual `settle` (StorageMarket.settle: anyone, once per order and era, when currentEra > era + 1).
 *
 * - Which orders: every order it was seen assigned to (an order that ended or removed it still
 *   has eras to settle); an order is forgotten once it ended and every one of its eras is
 *   settled. Memory only: after a restart, eras of orders it no longer holds are left to the
 *   other nodes (settle is open to every account).
 * - Who sends: the nodes of an order take turns (era mod node count = its index in the order),
 *   the others step in one era later, so two nodes rarely pay gas for the same settlement; a
 *   settlement someone else sent first is simply skipped (read `settled`, then simulate).
 * The chain decides who is paid; the node only pays the gas of asking.
 */
import type { Address } from 'viem'
import { getStorageOrder } from '../chain/actions/getStorageOrder.js'
import { isStorageEraSettled } from '../chain/actions/isStorageEraSettled.js'
import { settleStorage } from '../chain/actions/settleStorage.js'
import type { ChainPublicClient, WriteClients } from '../chain/clients.js'
import type { StorageOrder } from '../chain/storage.js'

export type StorageSettlerParameters = {
  publicClient: ChainPublicClient
  /** The operator's clients: it pays the gas. */
  operator: WriteClients
  storageMarket: Address
  /** The node's worker key. */
  self: Address
  log?: (line: string) => void
}

export type StorageSettler = {
  /** Remembers orders assigned to the node now (call each poll with its active orders). */
  track(orders: readonly StorageOrder[]): void
  /** Settles what is due at `currentEra`; returns the (order, era) pairs this node settled. */
  settleDue(currentEra: bigint): Promise<{ orderId: bigint; era: bigint }[]>
  /** Order ids with eras still to settle. */
  tracked(): bigint[]
}

export function createStorageSettler(p: StorageSettlerParameters): StorageSettler {
  const log = p.log ?? (() => {})
  /** Per order, the first era not known settled. */
  const next = new Map<bigint, bigint>()
  const me = p.self.toLowerCase()

  const mine = (o: StorageOrder, era: bigint, currentEra: bigint): boolean => {
    const index = o.nodes.findIndex((n) => n.toLowerCase() === me)
    // Its turn, or the turn passed an era ago (the node whose turn it was may be gone).
    return (index >= 0 && era % BigInt(o.nodes.length) === BigInt(index)) || era + 2n < currentEra
  }

  return {
    track(orders) {
      for (const o of orders) if (!next.has(o.id)) next.set(o.id, o.startEra)
    },
    tracked: () => [...next.keys()],
    async settleDue(currentEra) {
      const done: { orderId: bigint; era: bigint }[] = []
      for (const [orderId, from] of next) {
        const o = await getStorageOrder(p.publicClient, { storageMarket: p.storageMarket, orderId })
        let era = from
        /** The first era still open that another node's turn (or a failed send) left. */
        let open: bigint | undefined
        // Settleable: inside the order's paid eras and past the era's report window.
        for (; era < o.endEra && era + 1n < currentEra; era++) {
          if (await isStorageEraSettled(p.publicClient, { storageMarket: p.storageMarket, orderId, era })) continue
          if (!mine(o, era, currentEra)) {
            open ??= era
            continue
          }
          try {
            const s = await settleStorage(p.operator, { storageMarket: p.storageMarket, orderId, era })
            done.push({ orderId, era })
            log(`order ${orderId}: era ${era} settled (${s.provers} provers, ${s.perNode} each)`)
          } catch (e) {
            // Another node's settlement landed first (fine), or the chain refused: asked again next poll.
            if (!(await isStorageEraSettled(p.publicClient, { storageMarket: p.storageMarket, orderId, era }))) {
              log(`order ${orderId}: era ${era} not settled: ${(e as Error).message.split('\n')[0]}`)
              open ??= era
            }
          }
        }
        const first = open ?? era
        if (first >= o.endEra && o.status !== 'active') next.delete(orderId)
        else next.set(orderId, first)
      }
      return done
    },
  }
}
