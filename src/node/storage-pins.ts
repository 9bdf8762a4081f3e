/**
 * What a storage node pins: per order, its roots and every block of their DAGs with its size.
 * The host's own record (untrusted like the host: the enclave re-checks what it samples), kept in
 * `pins.json` so a restarted node knows what it claimed and what to drop.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Blockstore } from 'interface-blockstore'
import { CID } from 'multiformats/cid'
import { writeFileAtomic } from '../core/atomic-write.js'
import { walkDag } from '../storage/index.js'
import type { ClaimedOrder } from '../enclave/storage-audit.js'

export type PinnedOrder = { roots: string[]; blocks: { cid: string; size: number }[] }

export class StoragePins {
  private readonly file: string
  private readonly orders = new Map<string, PinnedOrder>()

  constructor(dataDir: string) {
    this.file = join(dataDir, 'pins.json')
    if (existsSync(this.file)) {
      const saved = JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, PinnedOrder>
      for (const [id, o] of Object.entries(saved)) this.orders.set(id, o)
    }
  }

  has(orderId: bigint): boolean {
    return this.orders.has(orderId.toString())
  }

  ids(): bigint[] {
    return [...this.orders.keys()].map(BigInt)
  }

  blocksOf(orderId: bigint): { cid: string; size: number }[] {
    return this.orders.get(orderId.toString())?.blocks ?? []
  }

  /** The claim the enclave audits: every pinned order with its blocks. */
  claim(): ClaimedOrder[] {
    return [...this.orders].map(([id, o]) => ({ orderId: BigInt(id), roots: o.roots, blocks: o.blocks }))
  }

  /**
   * Pins an order: walks each root's DAG through `source` (a peer-fetching blockstore checks
   * every block against its CID and keeps it locally) and records the blocks.
   */
  async pin(orderId: bigint, roots: string[], source: Blockstore): Promise<PinnedOrder> {
    const blocks = new Map<string, number>()
    for (const root of roots) for await (const b of walkDag(source, CID.parse(root))) blocks.set(b.cid.toString(), b.bytes.length)
    const pinned = { roots, blocks: [...blocks].map(([cid, size]) => ({ cid, size })) }
    this.orders.set(orderId.toString(), pinned)
    this.save()
    return pinned
  }

  /** Unpins an order and deletes its blocks that no other pinned order holds; returns how many went. */
  async drop(orderId: bigint, local: Blockstore): Promise<number> {
    const gone = this.orders.get(orderId.toString())
    if (!gone) return 0
    this.orders.delete(orderId.toString())
    this.save()
    const kept = new Set([...this.orders.values()].flatMap((o) => o.blocks.map((b) => b.cid)))
    let dropped = 0
    for (const b of gone.blocks) {
      if (kept.has(b.cid)) continue
      try {
        await local.delete(CID.parse(b.cid))
      } catch {
        // already gone
      }
      dropped++
    }
    return dropped
  }

  private save(): void {
    writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(this.orders)))
  }
}
