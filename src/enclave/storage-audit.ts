/**
 * The storage node's audit, inside its enclave: what the node's worker key signs about the
 * blocks its host keeps (work reports) and about other nodes' blocks (challenge failures).
 *
 * Invariants (the host is a courier and may lie, replay, restart us):
 * - The sample is the enclave's: random walks down the claimed orders' DAGs (storage-walk.ts)
 *   drawn from the worker key's own (deterministic, RFC 6979) signature over the era alone. The
 *   paths follow the blocks' own links, not the host's list of blocks, so the host can neither
 *   steer nor re-roll them: not by the claim it makes, not by restarting the enclave, not by
 *   restoring an older copy of its sealed state. What it chooses is which orders to claim, and
 *   an order left out is an order not proved.
 * - One claim per era: the era's claim is sealed in the ledger (storage-audit-ledger.ts) before
 *   its first request leaves, so a second claim for that era is refused, after a restart too.
 * - Every sampled block is re-hashed here against its CID; a block missing, short or wrong
 *   counts as failed, and a report with a failed block proves nothing on chain.
 * - A host cannot hide a lost block by leaving it out of its claim: every root of a claimed
 *   order is sampled, walks go where the links go, and every sampled block's links must be in
 *   the claim.
 * - bytesHeld is not the host's figure: it is the sum of what the claimed orders' roots (each
 *   sampled and re-hashed) declare of their DAGs (storage/declared-size.ts); a root that failed
 *   counts nothing. The sizes the host claims per block are checked only on sampled blocks.
 * - One signed report per era: asking again returns the same report (sealed before it leaves),
 *   never a second chance.
 * - A challenge failure is signed only for a fetch this enclave made and timed itself: it
 *   hashes the bytes it received; a timeout is its own clock's. Served right → nothing signed.
 * - The endpoint is the host's word, so the failure names it (endpointHash) and the chain takes
 *   it only for the endpoint the node registered: a host that points us at a dead address or at
 *   another node signs failures the chain refuses.
 */
import { createHash } from 'node:crypto'
import { concatBytes, hexToBytes, keccak256, encodeAbiParameters, toBytes, type Address, type Hex, type LocalAccount } from 'viem'
import { CID } from 'multiformats/cid'
import { W3aError } from '../core/errors.js'
import { endpointHash, signChallenge, signWorkReport, type StorageChallenge, type StorageDomain, type WorkReport } from '../chain/storage-digests.js'
import { CHALLENGE_REASONS } from '../chain/storage.js'
import { blockLinks } from '../storage/dag-walk.js'
import { verifyBlock } from '../storage/verify-block.js'
import { AuditWalks } from './storage-walk.js'
import { AuditLedger, LEDGER_ERAS_KEPT, type LedgerStore } from './storage-audit-ledger.js'

/** Random walks per report (root to leaf), besides every claimed order's roots. */
export const AUDIT_SAMPLE_SIZE = 32

export const EMPTY_CID_ROOT: Hex = `0x${'00'.repeat(32)}`

/** One order as the host claims to hold it: its roots and every block of its DAGs. */
export type ClaimedOrder = { orderId: bigint; roots: string[]; blocks: { cid: string; size: number }[] }

export type AuditBegin = { era: bigint; orders: ClaimedOrder[] }
/** The blocks the enclave wants now (`sample`; more follow from `next` until none). */
export type AuditSample = { era: bigint; heldRoot: Hex; sample: string[] }
export type AuditBlocks = { era: bigint; blocks: { cid: string; bytes: Uint8Array }[] }
export type SignedWorkReport = { report: WorkReport; signature: Hex }

export type ChallengeRequest = { node: Address; endpoint: string; orderId: bigint; cid: string; era: bigint; deadlineMs: number }
export type ChallengeOutcome = { served: true } | { served: false; challenge: StorageChallenge; signature: Hex }

/** How the enclave fetches a block itself (global fetch in the enclave process). */
export type BlockFetch = (url: string, init: { signal: AbortSignal; headers: Record<string, string> }) => Promise<Response>

type Signer = Pick<LocalAccount, 'address' | 'signMessage'>

/**
 * Merkle root over a set of CIDs: leaves keccak256(binary CID) in the order of the sorted CID
 * strings, each level hashing neighbours left ‖ right, an odd last node carried up; the empty
 * set → zero. heldRoot, addedRoot and droppedRoot are all this.
 */
export function cidSetRoot(cids: Iterable<string>): Hex {
  const sorted = [...new Set(cids)].sort()
  if (sorted.length === 0) return EMPTY_CID_ROOT
  // An era's claim is mostly the last one's, and its keccak tree (in JS) was most of an audit's
  // CPU: a set seen lately, known by a SHA-256 of its sorted members, reuses its root.
  const key = createHash('sha256').update(sorted.join('\n')).digest('base64')
  const known = recentRoots.get(key)
  if (known) return known
  let level: Hex[] = sorted.map((c) => keccak256(CID.parse(c).bytes))
  while (level.length > 1) {
    const next: Hex[] = []
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? keccak256(concatBytes([hexToBytes(level[i]!), hexToBytes(level[i + 1]!)])) : level[i]!)
    level = next
  }
  recentRoots.set(key, level[0]!)
  if (recentRoots.size > RECENT_ROOTS) recentRoots.delete(recentRoots.keys().next().value!)
  return level[0]!
}
const RECENT_ROOTS = 16
const recentRoots = new Map<string, Hex>()

type Pending = { claimHash: Hex; heldRoot: Hex; walks: AuditWalks; sizes: Map<string, number>; claimed: Set<string>; orderIds: bigint[] }

export class StorageAudit {
  /** Eras begun in this run with their claim in full (the ledger keeps only the claim's hash). */
  private readonly pending = new Map<bigint, Pending>()
  /** Eras begun and signed, and what the last signed report held: sealed, it outlives a restart. */
  private readonly ledger: AuditLedger

  constructor(
    private readonly signer: Signer,
    private readonly domain: StorageDomain,
    ledger: LedgerStore,
    private readonly fetchBlock: BlockFetch = (url, init) => fetch(url, init),
  ) {
    this.ledger = new AuditLedger(ledger)
  }

  /** Fixes this era's sample for the host's claim and names the blocks it must hand over. */
  async begin(p: AuditBegin): Promise<AuditSample> {
    const era = BigInt(p.era)
    const claimed = new Set<string>()
    const sizes = new Map<string, number>()
    const roots = new Set<string>()
    for (const o of p.orders) {
      const own = new Set(o.blocks.map((b) => canonicalCid(b.cid)))
      for (const r of o.roots) {
        const root = canonicalCid(r)
        if (!own.has(root)) throw new W3aError('INVALID_ARGUMENT', `order ${o.orderId}: root ${root} is not among its claimed blocks`, { details: ['Claim every block of the order, its roots included.'] })
        roots.add(root)
      }
      for (const b of o.blocks) {
        const cid = canonicalCid(b.cid)
        if (!Number.isSafeInteger(b.size) || b.size < 0) throw new W3aError('INVALID_ARGUMENT', `block ${cid}: size must be a non-negative integer`)
        claimed.add(cid)
        sizes.set(cid, b.size)
      }
    }
    const heldRoot = cidSetRoot(claimed)
    const orderIds = [...new Set(p.orders.map((o) => BigInt(o.orderId)))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    const claimHash = keccak256(encodeAbiParameters([{ type: 'bytes32' }, { type: 'uint256[]' }], [heldRoot, orderIds]))
    const before = this.ledger.era(era)
    if (before && before.claimHash !== claimHash) throw new W3aError('INVALID_ARGUMENT', `the audit of era ${era} has begun for another claim`, { details: ['One claim per era: report what you claimed first.'] })
    const pendingBefore = this.pending.get(era)
    if (pendingBefore) return { era, heldRoot, sample: pendingBefore.walks.need() }
    if (!before && era + LEDGER_ERAS_KEPT < this.ledger.newest()) throw new W3aError('INVALID_ARGUMENT', `era ${era} is past: its audit can no longer begin`, { details: [`The newest era audited is ${this.ledger.newest()}; report the current era.`] })
    // The key's signatures are deterministic: one era, one seed, whoever asks and however often.
    const seed = keccak256(await this.signer.signMessage({ message: { raw: keccak256(encodeAbiParameters([{ type: 'string' }, { type: 'uint64' }], ['w3a.storage-sample.v2', era])) } }))
    const sizesAndClaim = { sizes, claimed }
    const walks = new AuditWalks(seed, roots, AUDIT_SAMPLE_SIZE, (cid, bytes) => blockHolds(cid, bytes, sizesAndClaim))
    // Durable before the first request leaves: a restarted enclave refuses this era for any other claim.
    if (!before) this.ledger.begin(era, claimHash)
    this.pending.set(era, { claimHash, heldRoot, walks, sizes, claimed, orderIds })
    for (const e of this.pending.keys()) if (e + LEDGER_ERAS_KEPT < era) this.pending.delete(e)
    return { era, heldRoot, sample: walks.need() }
  }

  private begun(era: bigint): Pending {
    const pending = this.pending.get(era)
    if (!pending) throw new W3aError('INVALID_ARGUMENT', `the audit of era ${era} has not begun`, { details: ['Call begin with the claim first (after a restart: the same claim again).'] })
    return pending
  }

  /** Checks the blocks the host handed over and names the next ones the walks reach (none: call finish). */
  async next(p: AuditBlocks): Promise<{ need: string[] }> {
    const era = BigInt(p.era)
    if (this.ledger.era(era)?.signed) return { need: [] }
    const walks = this.begun(era).walks
    await walks.feed(handed(p.blocks))
    return { need: walks.need() }
  }

  /** Checks the last blocks handed over (any still wanted fail) and signs the era's report. */
  async finish(p: { era: bigint; blocks?: { cid: string; bytes: Uint8Array }[] }): Promise<SignedWorkReport> {
    const era = BigInt(p.era)
    const done = this.ledger.era(era)?.signed
    if (done) return done
    const pending = this.begun(era)
    await pending.walks.feed(handed(p.blocks ?? []))
    await pending.walks.close()
    const held = pending.claimed
    const lastHeld = this.ledger.lastHeld()
    const report: WorkReport = {
      node: this.signer.address,
      era,
      heldRoot: pending.heldRoot,
      // What the claimed orders' roots declare (every root is sampled), not the host's sizes.
      bytesHeld: pending.walks.declaredBytes(),
      blocksSampled: pending.walks.sampled,
      blocksFailed: pending.walks.failed,
      addedRoot: cidSetRoot([...held].filter((c) => !lastHeld.has(c))),
      droppedRoot: cidSetRoot([...lastHeld].filter((c) => !held.has(c))),
      orderIds: pending.orderIds,
    }
    const signed = { report, signature: await signWorkReport(this.signer, this.domain, report) }
    // Durable before the signature leaves: asked again, even after a restart, the era gets this report.
    this.ledger.sign(era, signed, held)
    this.pending.delete(era)
    return signed
  }

  /**
   * Fetches one block from another node itself (raw, only-if-cached, within deadlineMs by its
   * own clock) and signs a failure only if the bytes were wrong or did not come in time.
   */
  async challenge(p: ChallengeRequest): Promise<ChallengeOutcome> {
    const cid = canonicalCid(p.cid)
    if (p.node.toLowerCase() === this.signer.address.toLowerCase()) throw new W3aError('INVALID_ARGUMENT', 'a node does not challenge itself')
    const deadlineMs = Math.max(1, Math.min(60_000, Math.floor(Number(p.deadlineMs))))
    const issuedAtMs = Date.now()
    const url = `${p.endpoint.replace(/\/+$/, '')}/ipfs/${cid}?format=raw`
    let reason: number = CHALLENGE_REASONS.notServed
    // A timer of our own (kept referenced: the enclave's clock decides, and it must fire).
    const abort = new AbortController()
    const timer = setTimeout(() => abort.abort(new Error('deadline passed')), deadlineMs)
    try {
      const res = await this.fetchBlock(url, { signal: abort.signal, headers: { Accept: 'application/vnd.ipld.raw', 'Cache-Control': 'only-if-cached' } })
      if (res.ok) {
        const bytes = new Uint8Array(await res.arrayBuffer())
        if (Date.now() - issuedAtMs <= deadlineMs) {
          reason = CHALLENGE_REASONS.badBytes
          await verifyBlock(CID.parse(cid), bytes)
          return { served: true }
        }
      }
    } catch {
      // a timeout, a refused connection or (reason already 2) bytes that do not hash to the CID
    } finally {
      clearTimeout(timer)
    }
    const issuedAt = BigInt(Math.floor(issuedAtMs / 1000))
    const challenge: StorageChallenge = {
      node: p.node,
      orderId: BigInt(p.orderId),
      cid,
      era: BigInt(p.era),
      issuedAt,
      deadline: BigInt(Math.ceil((issuedAtMs + deadlineMs) / 1000)),
      reason: reason as StorageChallenge['reason'],
      // The chain counts the failure only if this is the node's registered endpoint: a host cannot aim us at another address.
      endpointHash: endpointHash(p.endpoint),
    }
    return { served: false, challenge, signature: await signChallenge(this.signer, this.domain, challenge) }
  }
}

function handed(blocks: { cid: string; bytes: Uint8Array }[]): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>()
  for (const b of blocks) if (b.bytes instanceof Uint8Array) out.set(canonicalCid(b.cid), b.bytes)
  return out
}

function canonicalCid(s: string): string {
  try {
    return CID.parse(s).toString()
  } catch {
    throw new W3aError('INVALID_ARGUMENT', `not a CID: ${String(s).slice(0, 80)}`)
  }
}

/** A sampled block holds when its bytes hash to its CID, have the claimed size, and link only to claimed blocks. */
async function blockHolds(cid: string, bytes: Uint8Array | undefined, pending: Pick<Pending, 'sizes' | 'claimed'>): Promise<boolean> {
  if (!(bytes instanceof Uint8Array) || bytes.length !== pending.sizes.get(cid)) return false
  try {
    const parsed = CID.parse(cid)
    await verifyBlock(parsed, bytes)
    return blockLinks(parsed, bytes).every((l) => pending.claimed.has(l.toString()))
  } catch {
    return false
  }
}
