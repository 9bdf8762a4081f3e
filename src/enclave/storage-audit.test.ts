import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { concatBytes, hexToBytes, keccak256, recoverMessageAddress, type Address } from 'viem'
import { challengeDigest, workReportDigest } from '../chain/storage-digests.js'
import { createMemoryBlockstore, readBlock } from '../storage/blockstore.js'
import { createTrustlessGateway } from '../storage/trustless-gateway.js'
import { handOverAuditRounds } from '../node/storage-audit-rounds.js'
import { memoryLedgerStore } from './storage-audit-ledger.js'
import { AUDIT_SAMPLE_SIZE, EMPTY_CID_ROOT, StorageAudit, cidSetRoot, type BlockFetch, type ClaimedOrder } from './storage-audit.js'

const domain = { chainId: 31337, storageMarket: '0x00000000000000000000000000000000000000aa' as Address }
const other = '0x00000000000000000000000000000000000000bb' as Address

/** A real dag-pb DAG: `leaves` raw blocks under one root, in a memory blockstore. */
async function dataset(leaves: number) {
  const store = createMemoryBlockstore()
  const links: dagPb.PBLink[] = []
  const blocks: { cid: string; size: number }[] = []
  for (let i = 0; i < leaves; i++) {
    const bytes = new Uint8Array(randomBytes(512))
    const cid = CID.createV1(raw.code, await sha256.digest(bytes))
    await store.put(cid, bytes)
    links.push({ Hash: cid, Tsize: bytes.length })
    blocks.push({ cid: cid.toString(), size: bytes.length })
  }
  const rootBytes = dagPb.encode(dagPb.prepare({ Data: new Uint8Array([8, 2]), Links: links }))
  const root = CID.createV1(dagPb.code, await sha256.digest(rootBytes))
  await store.put(root, rootBytes)
  blocks.push({ cid: root.toString(), size: rootBytes.length })
  const order: ClaimedOrder = { orderId: 1n, roots: [root.toString()], blocks }
  return { store, order, root }
}

/** A host's reads: the first of `stores` that has the block (a lost block: nothing). */
const fromStores =
  (...stores: ReturnType<typeof createMemoryBlockstore>[]) =>
  async (cid: string): Promise<Uint8Array | undefined> => {
    for (const s of stores) {
      try {
        return await readBlock(s, CID.parse(cid))
      } catch {
        // not in this one
      }
    }
    return undefined
  }

/** One era's audit as the storage node runs it: begin, hand over what the walks name, finish. */
async function runAudit(audit: StorageAudit, era: bigint, orders: ClaimedOrder[], read: (cid: string) => Promise<Uint8Array | undefined>) {
  const begun = await audit.begin({ era, orders })
  const asked: string[] = []
  const counted = async (cid: string) => (asked.push(cid), read(cid))
  await handOverAuditRounds(begun, counted, (blocks) => audit.next({ era, blocks }))
  return { begun, asked, ...(await audit.finish({ era })) }
}

test('an honest host gets a clean report the contract can check', async () => {
  const key = privateKeyToAccount(generatePrivateKey())
  const audit = new StorageAudit(key, domain, memoryLedgerStore())
  const { store, order, root } = await dataset(60)
  const { begun, asked, report, signature } = await runAudit(audit, 5n, [order], fromStores(store))
  assert.deepEqual(begun.sample, [root.toString()], 'the walks start at the roots')
  assert.ok(asked.length > 10 && asked.length <= 1 + AUDIT_SAMPLE_SIZE, `root and walked leaves asked (${asked.length})`)
  assert.equal(report.blocksSampled, asked.length)
  assert.equal(report.blocksFailed, 0)
  assert.equal(report.heldRoot, cidSetRoot(order.blocks.map((b) => b.cid)))
  assert.equal(report.addedRoot, report.heldRoot, 'the first report adds everything it holds')
  assert.equal(report.droppedRoot, EMPTY_CID_ROOT)
  assert.equal(report.bytesHeld, BigInt(order.blocks.reduce((s, b) => s + b.size, 0)))
  assert.deepEqual(report.orderIds, [1n])
  assert.equal(await recoverMessageAddress({ message: { raw: workReportDigest(domain, report) }, signature }), key.address)
})

test('a host that lost half its blocks cannot get a clean report: not by withholding, lying, re-asking, restarting, hiding or re-rolling', async () => {
  const key = privateKeyToAccount(generatePrivateKey())
  const { store, order } = await dataset(100)
  const leaves = order.blocks.slice(0, 100)
  for (const b of leaves.slice(0, 50)) await store.delete(CID.parse(b.cid))
  const lossy = fromStores(store)

  // Withholding: the lost blocks are simply not handed over.
  const ledger = memoryLedgerStore()
  const audit = new StorageAudit(key, domain, ledger)
  const withheld = await runAudit(audit, 7n, [order], lossy)
  assert.ok(withheld.report.blocksFailed > 0)

  // Re-asking: the era's report is fixed (another claim is refused).
  assert.deepEqual(await audit.finish({ era: 7n }), { report: withheld.report, signature: withheld.signature })
  await assert.rejects(audit.begin({ era: 7n, orders: [{ ...order, blocks: order.blocks.slice(50) }] }), /begun for another claim/)

  // Restarting: the ledger outlives the enclave's memory, so the era is as fixed as before.
  const restarted = new StorageAudit(key, domain, ledger)
  await assert.rejects(restarted.begin({ era: 7n, orders: [{ ...order, blocks: order.blocks.slice(50) }] }), /begun for another claim/)
  const again = await runAudit(restarted, 7n, [order], lossy)
  assert.deepEqual(again.report, withheld.report)

  // Re-rolling with a restored (here: empty) ledger and another claim, padded with a block of its own:
  // the walks follow the DAG's links from an era-only seed, so they ask for the very same blocks.
  const junk = new Uint8Array(randomBytes(512))
  const junkCid = CID.createV1(raw.code, await sha256.digest(junk))
  await store.put(junkCid, junk)
  const rolled = await runAudit(new StorageAudit(key, domain, memoryLedgerStore()), 7n, [{ ...order, blocks: [...order.blocks, { cid: junkCid.toString(), size: 512 }] }], lossy)
  assert.deepEqual(new Set(rolled.asked), new Set(withheld.asked), 'the same paths, whatever the claim')
  assert.equal(rolled.report.blocksFailed, withheld.report.blocksFailed)

  // Lying: other bytes under the lost CIDs.
  const lied = await runAudit(new StorageAudit(key, domain, memoryLedgerStore()), 9n, [order], async (cid) => (await lossy(cid)) ?? new Uint8Array(512))
  assert.ok(lied.report.blocksFailed > 0)

  // Hiding: claiming only the blocks still held; the root (always sampled) links to the lost ones.
  const partial = { ...order, blocks: order.blocks.slice(50) }
  const hidden = await runAudit(new StorageAudit(key, domain, memoryLedgerStore()), 8n, [partial], lossy)
  assert.ok(hidden.report.blocksFailed > 0)
})

test('bytesHeld is what the order\'s root declares: a host padding its claim with blocks of its own does not raise it', async () => {
  const key = privateKeyToAccount(generatePrivateKey())
  const { store, order } = await dataset(40)
  const declared = BigInt(order.blocks.reduce((s, b) => s + b.size, 0))
  // Junk the host made and really holds, claimed inside the order: 40 blocks of 64 KiB.
  const junk: { cid: string; size: number }[] = []
  for (let i = 0; i < 40; i++) {
    const bytes = new Uint8Array(randomBytes(64 * 1024))
    const cid = CID.createV1(raw.code, await sha256.digest(bytes))
    await store.put(cid, bytes)
    junk.push({ cid: cid.toString(), size: bytes.length })
  }
  const padded = { ...order, blocks: [...order.blocks, ...junk] }
  const { report } = await runAudit(new StorageAudit(key, domain, memoryLedgerStore()), 4n, [padded], fromStores(store))
  assert.equal(report.blocksFailed, 0, 'the junk is never walked to: it is linked from nowhere')
  assert.equal(report.bytesHeld, declared, 'and bytesHeld counts only what the root declares')
})

test('a deleted order shows in the next report: dropped root names its blocks, held root no longer has them', async () => {
  const key = privateKeyToAccount(generatePrivateKey())
  const audit = new StorageAudit(key, domain, memoryLedgerStore())
  const a = await dataset(10)
  const b = await dataset(10)
  const orderB = { ...b.order, orderId: 2n }
  assert.equal((await runAudit(audit, 1n, [a.order, orderB], fromStores(a.store, b.store))).report.blocksFailed, 0)
  const { report } = await runAudit(audit, 2n, [a.order], fromStores(a.store))
  assert.equal(report.blocksFailed, 0)
  assert.equal(report.droppedRoot, cidSetRoot(orderB.blocks.map((x) => x.cid)))
  assert.equal(report.addedRoot, EMPTY_CID_ROOT)
  assert.equal(report.heldRoot, cidSetRoot(a.order.blocks.map((x) => x.cid)))
  assert.deepEqual(report.orderIds, [1n])
})

/** The enclave's fetch, routed to a real trustless gateway over `store` (a host may tamper with what it returns). */
function gatewayFetch(store: ReturnType<typeof createMemoryBlockstore>, tamper?: (res: Response) => Promise<Response>): BlockFetch {
  const gateway = createTrustlessGateway(store)
  return async (url, init) => {
    const res = (await gateway(new Request(url, { headers: init.headers, signal: init.signal })))!
    return tamper ? tamper(res) : res
  }
}

test('a challenge of a block served right signs nothing; wrong bytes and a timeout are signed as what they are', async () => {
  const key = privateKeyToAccount(generatePrivateKey())
  const { store, order } = await dataset(5)
  const cid = order.blocks[2]!.cid
  const request = { node: other, endpoint: 'http://node.invalid', orderId: 1n, cid, era: 3n, deadlineMs: 60_000 } // generous: a loaded machine must not turn a served block into a timeout

  const served = await new StorageAudit(key, domain, memoryLedgerStore(), gatewayFetch(store)).challenge(request)
  assert.deepEqual(served, { served: true })

  const corrupt = await new StorageAudit(key, domain, memoryLedgerStore(), gatewayFetch(store, async () => new Response(new Uint8Array(512)))).challenge(request)
  assert.equal(corrupt.served, false)
  if (corrupt.served) return
  assert.equal(corrupt.challenge.reason, 2)
  assert.equal(await recoverMessageAddress({ message: { raw: challengeDigest(domain, corrupt.challenge) }, signature: corrupt.signature }), key.address)

  const silent: BlockFetch = (_url, init) => new Promise((_resolve, reject) => init.signal.addEventListener('abort', () => reject(init.signal.reason)))
  const timedOut = await new StorageAudit(key, domain, memoryLedgerStore(), silent).challenge({ ...request, deadlineMs: 100 })
  assert.equal(timedOut.served, false)
  if (!timedOut.served) assert.equal(timedOut.challenge.reason, 1)

  // A missing block is not served either.
  await store.delete(CID.parse(cid))
  const missing = await new StorageAudit(key, domain, memoryLedgerStore(), gatewayFetch(store)).challenge(request)
  assert.equal(missing.served, false)
})

test('a host cannot get a failure signed for a block served right: the enclave fetches and hashes it itself', async () => {
  // The host's only inputs are the target and the deadline; the bytes and the clock are the enclave's.
  const key = privateKeyToAccount(generatePrivateKey())
  const { store, order } = await dataset(5)
  const audit = new StorageAudit(key, domain, memoryLedgerStore(), gatewayFetch(store))
  for (const b of order.blocks) {
    const outcome = await audit.challenge({ node: other, endpoint: 'http://node.invalid', orderId: 1n, cid: b.cid, era: 3n, deadlineMs: 60_000 })
    assert.deepEqual(outcome, { served: true })
  }
  await assert.rejects(audit.challenge({ node: key.address, endpoint: 'http://x.invalid', orderId: 1n, cid: order.blocks[0]!.cid, era: 3n, deadlineMs: 1 }), /does not challenge itself/)
})

test('cidSetRoot: the keccak tree of the sorted set, the same whatever the order or repetition, and a set seen before gives its own root', async () => {
  const cids = await Promise.all([1, 2, 3].map(async (i) => CID.createV1(raw.code, await sha256.digest(new Uint8Array([i])))))
  const [a, b, c] = cids.map((x) => x.toString()).sort() as [string, string, string]
  const leaf = (s: string) => keccak256(CID.parse(s).bytes)
  const pair = (l: `0x${string}`, r: `0x${string}`) => keccak256(concatBytes([hexToBytes(l), hexToBytes(r)]))
  assert.equal(cidSetRoot([]), EMPTY_CID_ROOT)
  assert.equal(cidSetRoot([b]), leaf(b))
  assert.equal(cidSetRoot([b, a]), pair(leaf(a), leaf(b)))
  const three = pair(pair(leaf(a), leaf(b)), leaf(c)) // the odd last node is carried up
  assert.equal(cidSetRoot([c, a, b]), three)
  assert.equal(cidSetRoot([b, c, a, a]), three, 'again (known now), in another order, with a repeat')
  assert.equal(cidSetRoot([a, b]), pair(leaf(a), leaf(b)), 'a known subset keeps its own root')
})
