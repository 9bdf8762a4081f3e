/**
 * A storage node's block serving with its enclave auditing against the same node serving without
 * auditing, same run; and the time to repair an order after a node disappears. Figures only
 * (benchmarks never assert); the judged ratio is printed last.
 *
 * Setup (not timed): `--size` bytes (default 1 GB; e.g. `--size 200MB`) of random data imported
 * as UnixFS into node A's on-disk blockstore (the blockstore `w3a storage` opens), served by the
 * trustless gateway over HTTP as `w3a storage` serves it.
 *
 * Timed:
 *   serving   : W3A_BENCH_SECONDS (default 5) s of raw block requests (8 concurrent clients,
 *               random blocks) to node A; rounds alternate unaudited / audited, best of
 *               W3A_BENCH_ROUNDS (default 2) each. Audited: the enclave audit (storage-audit.ts:
 *               sample, re-hash, sign) runs on the node's claim every W3A_BENCH_ERA_MS (default
 *               1000) ms, far more often than a real era (20 blocks on devnets).
 *   repair    : node B (an empty blockstore) pins the order from node A over the trustless
 *               gateway, every block checked (StoragePins.pin through withPeerFetch): the
 *               repair path after a node is removed.
 * Same answer: every served block hashes to its CID (the gateway's checked read and the client's
 * verifyBlock), and node B ends with every block of the order, else the bench exits non-zero.
 *
 *   npm run bench:storage
 *   npm run bench:storage -- --size 256MB
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { StorageAudit, type ClaimedOrder } from '../src/enclave/storage-audit.js'
import { memoryLedgerStore } from '../src/enclave/storage-audit-ledger.js'
import { handOverAuditRounds } from '../src/node/storage-audit-rounds.js'
import { serveHttp } from '../src/node/http-server.js'
import { StoragePins } from '../src/node/storage-pins.js'
import { createTrustlessGateway, importBytes, openBlockstore, readBlock, verifyBlock, withPeerFetch } from '../src/storage/index.js'

const UNITS: Record<string, number> = { '': 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KIB: 1024, MIB: 1024 ** 2, GIB: 1024 ** 3 }
function parseSize(s: string): number {
  const m = /^([0-9.]+)\s*([a-zA-Z]*)$/.exec(s.trim())
  const unit = UNITS[(m?.[2] ?? '').toUpperCase()]
  if (!m || unit === undefined) throw new Error(`--size: not a size: ${s} (e.g. 1GB, 256MB)`)
  return Math.round(Number(m[1]) * unit)
}
const sizeArg = process.argv.indexOf('--size')
const size = parseSize(sizeArg > 0 ? process.argv[sizeArg + 1] ?? '' : '1GB')
const seconds = Number(process.env['W3A_BENCH_SECONDS'] ?? 5)
const rounds = Number(process.env['W3A_BENCH_ROUNDS'] ?? 2)
const eraMs = Number(process.env['W3A_BENCH_ERA_MS'] ?? 1000)
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ')

const dir = await mkdtemp(join(tmpdir(), 'w3a-bench-storage-'))
const closers: (() => Promise<void>)[] = []
try {
  const a = await openBlockstore(join(dir, 'a'))
  // Import in 64 MiB pieces: the file is one UnixFS DAG, never whole in memory.
  const piece = 64 * 1024 * 1024
  async function* data(): AsyncGenerator<Uint8Array> {
    for (let left = size; left > 0; left -= piece) yield new Uint8Array(randomBytes(Math.min(piece, left)))
  }
  const t0 = performance.now()
  const { cid: root } = await importBytes(a, data())
  console.log(`setup: ${(size / 1e6).toFixed(0)} MB imported in ${((performance.now() - t0) / 1000).toFixed(1)} s (load ${load()})`)
  const pinsA = new StoragePins(join(dir, 'a'))
  const order = await pinsA.pin(1n, [root.toString()], a)
  const claim: ClaimedOrder[] = pinsA.claim()
  const cids = order.blocks.map((b) => CID.parse(b.cid))
  console.log(`order: ${order.blocks.length} blocks under ${root}`)

  const http = await serveHttp(async (req) => (await createTrustlessGateway(a)(req)) ?? new Response(null, { status: 404 }), { port: 0 })
  closers.push(() => http.close())

  const audit = new StorageAudit(privateKeyToAccount(generatePrivateKey()), { chainId: 31337, storageMarket: '0x00000000000000000000000000000000000000aa' }, memoryLedgerStore())
  let era = 0n
  let audits = 0
  const auditLoop = async (stop: { done: boolean }) => {
    while (!stop.done) {
      era++
      const begun = await audit.begin({ era, orders: claim })
      await handOverAuditRounds(begun, (cid) => readBlock(a, CID.parse(cid)), (blocks) => audit.next({ era, blocks }))
      const { report } = await audit.finish({ era })
      if (report.blocksFailed !== 0) throw new Error('an honest node failed its own audit')
      audits++
      await new Promise((r) => setTimeout(r, eraMs))
    }
  }

  const serve = async (audited: boolean): Promise<number> => {
    const stop = { done: false }
    const auditing = audited ? auditLoop(stop) : Promise.resolve()
    let served = 0
    const until = performance.now() + seconds * 1000
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (performance.now() < until) {
          const cid = cids[Math.floor(Math.random() * cids.length)]!
          const res = await fetch(`${http.url}/ipfs/${cid}?format=raw`)
          const bytes = new Uint8Array(await res.arrayBuffer())
          if (res.status !== 200) throw new Error(`block ${cid}: HTTP ${res.status}`)
          await verifyBlock(cid, bytes)
          served++
        }
      }),
    )
    stop.done = true
    await auditing
    return served / seconds
  }

  const best = { plain: 0, audited: 0 }
  for (let r = 0; r < rounds; r++) {
    for (const side of r % 2 === 0 ? (['plain', 'audited'] as const) : (['audited', 'plain'] as const)) {
      const before = audits
      const rate = await serve(side === 'audited')
      console.log(`round ${r + 1} ${side}: ${rate.toFixed(0)} blocks/s${side === 'audited' ? ` (${audits - before} audits signed)` : ''} (load ${load()})`)
      best[side] = Math.max(best[side], rate)
    }
  }

  // Repair: node B copies the order from node A, every block checked.
  const b = await openBlockstore(join(dir, 'b'))
  const pinsB = new StoragePins(join(dir, 'b'))
  const t1 = performance.now()
  const copied = await pinsB.pin(1n, [root.toString()], withPeerFetch(b, [http.url]))
  const repairSeconds = (performance.now() - t1) / 1000
  for (const cid of cids) if (!(await b.has(cid))) throw new Error(`repair missed block ${cid}`)
  if (copied.blocks.length !== order.blocks.length) throw new Error('repair copied another DAG')
  console.log(`repair of a ${(size / 1e6).toFixed(0)} MB order (${copied.blocks.length} blocks) from one node: ${repairSeconds.toFixed(1)} s, ${(size / 1e6 / repairSeconds).toFixed(1)} MB/s (load ${load()})`)
  console.log(`serving: audited ${best.audited.toFixed(0)} blocks/s, unaudited ${best.plain.toFixed(0)} blocks/s`)
  console.log(`ratio (audited / unaudited serving): ${(best.audited / best.plain).toFixed(3)} (target ≥ 0.9)`)
} finally {
  for (const c of closers) await c()
  await rm(dir, { recursive: true, force: true })
}
