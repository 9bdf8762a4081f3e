/**
 * The storage audit's sample as random walks down the claimed orders' DAGs (storage-audit.ts).
 * Each walk starts at a root (chosen in proportion to the size the root declares) and at every
 * block steps to one of its links, in proportion to the size the block declares for it (dag-pb
 * `Tsize`, a manifest's segment `size`; uniformly when it declares none), until a block without
 * links: so every byte of a dataset is about as likely to be reached; every block on the path is handed over by the
 * host and checked. The choices come from `seed` alone (the enclave's, fixed per era) and from
 * the blocks themselves (fixed by their CIDs), never from the host's list of blocks: the host
 * cannot steer a walk by leaving lost blocks out of its claim or by padding it, and a restart
 * or a restored copy of its sealed state walks the same paths again.
 *
 * Rounds: `need()` names the blocks wanted now; `feed(blocks)` checks what came (a wanted block
 * not handed over fails) and steps on. A failed block ends its walk.
 */
import { concatBytes, hexToBytes, keccak256, toBytes, type Hex } from 'viem'
import * as dagJson from '@ipld/dag-json'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import { blockLinks } from '../storage/dag-walk.js'
import { declaredDagSize } from '../storage/declared-size.js'
import { decodeManifest } from '../storage/manifest.js'

/** Deeper than any DAG a dataset makes; a walk that goes on is cut there. */
const MAX_DEPTH = 64

/** Whether a handed-over block holds (hash, size, links: storage-audit.ts decides). */
export type BlockCheck = (cid: string, bytes: Uint8Array | undefined) => Promise<boolean>

type Walk = { at: string; depth: number }

export class AuditWalks {
  /** Every block checked: its bytes if it held, null if it failed. */
  private readonly checked = new Map<string, Uint8Array | null>()
  private walks: Walk[] | undefined
  private readonly rootList: string[]

  constructor(
    private readonly seed: Hex,
    roots: Iterable<string>,
    private readonly walkCount: number,
    private readonly check: BlockCheck,
  ) {
    this.rootList = [...new Set(roots)].sort()
  }

  /** The blocks wanted now (none: the sample is complete). */
  need(): string[] {
    if (!this.walks) return this.rootList.filter((c) => !this.checked.has(c))
    return [...new Set(this.walks.map((w) => w.at))].filter((c) => !this.checked.has(c))
  }

  /** Checks the wanted blocks from what the host handed over (a missing one fails), then steps the walks on. */
  async feed(blocks: ReadonlyMap<string, Uint8Array>): Promise<void> {
    for (;;) {
      const wanted = this.need()
      if (wanted.length === 0) return
      for (const cid of wanted) {
        const bytes = blocks.get(cid)
        this.checked.set(cid, (await this.check(cid, bytes)) ? bytes! : null)
      }
      this.step()
      // Blocks already checked (shared by walks) need no other round: go on while none is new.
      if (this.need().some((c) => !blocks.has(c))) return
    }
  }

  /** Ends the sample: whatever is still wanted was not handed over and fails. */
  async close(): Promise<void> {
    while (this.need().length > 0) await this.feed(new Map())
  }

  get sampled(): number {
    return this.checked.size
  }

  get failed(): number {
    return [...this.checked.values()].filter((b) => b === null).length
  }

  /** The size the roots that held declare (storage/declared-size.ts), each root once. */
  declaredBytes(): bigint {
    let sum = 0n
    for (const root of this.rootList) {
      const bytes = this.checked.get(root)
      if (bytes) sum += declaredDagSize(CID.parse(root), bytes)
    }
    return sum
  }

  private step(): void {
    if (!this.walks) {
      if (this.rootList.some((r) => !this.checked.has(r))) return
      const held = this.rootList.filter((r) => this.checked.get(r))
      const weights = held.map((r) => declaredDagSize(CID.parse(r), this.checked.get(r)!))
      this.walks = held.length === 0 ? [] : Array.from({ length: this.walkCount }, (_, i) => ({ at: held[this.choose(weights, i, 0)]!, depth: 0 }))
    }
    const next: Walk[] = []
    for (const [i, w] of this.walks.entries()) {
      let walk: Walk | undefined = w
      // Step every walk whose block is checked and held, as far as checked blocks go.
      while (walk && this.checked.has(walk.at)) {
        const bytes = this.checked.get(walk.at)
        walk = bytes ? this.child(walk, bytes, i) : undefined
      }
      next.push(walk ?? { at: '', depth: -1 })
    }
    this.walks = next.filter((w) => w.depth >= 0)
  }

  /** The link a walk takes from a held block, or undefined at a leaf (or too deep). */
  private child(w: Walk, bytes: Uint8Array, slot: number): Walk | undefined {
    if (w.depth >= MAX_DEPTH) return undefined
    const cid = CID.parse(w.at)
    const links = blockLinks(cid, bytes)
    if (links.length === 0) return undefined
    const weights = linkWeights(cid, bytes, links)
    return { at: links[this.choose(weights, slot, w.depth + 1)]!.toString(), depth: w.depth + 1 }
  }

  /** An index drawn in proportion to `weights` from (seed, slot, depth). */
  private choose(weights: bigint[], slot: number, depth: number): number {
    const total = weights.reduce((s, x) => s + x, 0n)
    if (total === 0n) return 0
    let r = BigInt(keccak256(concatBytes([hexToBytes(this.seed), toBytes(slot, { size: 4 }), toBytes(depth, { size: 4 })]))) % total
    for (const [i, x] of weights.entries()) {
      if (r < x) return i
      r -= x
    }
    return weights.length - 1
  }
}

/** What a block declares of the DAG under each of its links (all 1 when it does not say). */
function linkWeights(cid: CID, bytes: Uint8Array, links: CID[]): bigint[] {
  const declared = new Map<string, bigint>()
  try {
    if (cid.code === dagPb.code) for (const l of dagPb.decode(bytes).Links) declared.set(l.Hash.toString(), BigInt(l.Tsize ?? 0))
    else if (cid.code === dagJson.code) for (const seg of decodeManifest(bytes).segments) declared.set(seg.cid.toString(), BigInt(seg.size))
  } catch {
    // not a manifest: nothing declared
  }
  const weights = links.map((l) => declared.get(l.toString()) ?? 0n)
  return weights.every((w) => w > 0n) ? weights : links.map(() => 1n)
}
