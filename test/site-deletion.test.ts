/**
 * A visitor's deletion reaching a site's stored segments, end to end on `w3a up` (issue 12,
 * docs/visitor.md): ten anonymous visitors and two opted-in ones (A and B) browse; their rows are
 * appended to the site's dataset as encrypted segments; A deletes. The ingest worker (the devnet's
 * keeper) is killed with -9 together with its enclave as soon as its sealed site book changes
 * after the deletion (the rewrite made, its new key sealed, its RotateKey about to be or being
 * mined), and started again on the same data directory. Then:
 *   - A's 'rewrite' receipt, signed by the ingest worker, names the site's new manifest, which the
 *     chain's registry points at;
 *   - exact whole-site stats (a job: custody released the NEW key) count the ten and B only, and
 *     B's events acknowledged just before the kill are there;
 *   - the owner downloads the site dataset and finds B's rows and none of A's;
 *   - the old segments and manifest are no longer served by the storage node;
 *   - the owner's original site key does not open the new segments;
 *   - an account that is neither the owner nor the writer cannot unpin the new segments, and an
 *     unpin of the live version by the owner drops nothing.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import type { Hex } from 'viem'
import { devAccount } from '../src/chain/dev-accounts.js'
import { isW3aError } from '../src/core/errors.js'
import { loadSegments } from '../src/analysis/load-segments.js'
import { siteFor, siteKey } from '../src/sdk/actions/site.js'
import { decodeManifest, verifyBlock, type DatasetManifest } from '../src/storage/index.js'
import { signUnpin } from '../src/storage/upload-authorization.js'
import { openEventContext, sealEvent } from '../src/tracker/seal-event.js'
import { makeVisitorKeys, openBox, optInToken, receiptProblem, visitorRequest, type VisitorKeys } from '../src/tracker/visitor-crypto.js'
import type { VisitorAction, VisitorAnswer } from '../src/tracker/visitor-format.js'
import { startW3aUp, W3A_BIN as BIN, type W3aUp } from './w3a-up-process.js'

const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Safari/537.36'
const DOMAIN = 'deleted.example'
const work = mkdtempSync(join(tmpdir(), 'w3a-site-deletion-'))
const dataDir = join(work, 'data')
const owner = devAccount(0)
const env = { ...process.env, W3A_INGEST_FLUSH_MS: '1000', W3A_DATA_DIR: dataDir }
let up: W3aUp | undefined
let worker: ChildProcess | undefined
let gatewayUrl = ''
let site: Hex = '0x'
let ingestKey = ''

function w3a(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; json: any }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args, '--gateway', gatewayUrl, '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d) => (stdout += d))
    child.stderr!.on('data', (d) => (stderr += d))
    child.on('exit', (code) => {
      let json: unknown
      try {
        json = JSON.parse(stdout)
      } catch {
        json = undefined
      }
      resolve({ code, stdout, stderr, json })
    })
  })
}

function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        return Number(readFileSync(`/proc/${n}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === pid
      } catch {
        return false
      }
    })
    .map(Number)
}

const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')
  } catch {
    return ''
  }
}

before(async () => {
  up = await startW3aUp(dataDir, 90_000, env)
  gatewayUrl = up.gatewayUrl
  // Exact whole-site totals allowed, so the stats after the deletion can be checked to the unit.
  const added = await w3a(['site', 'add', DOMAIN, '--account', '0', '--allow-exact'])
  assert.equal(added.code, 0, added.stderr)
  site = (await siteFor(owner, DOMAIN)).id
  ingestKey = added.json.ingestKey.slice(2)
})

after(async () => {
  const stop = async (p: ChildProcess | undefined) => {
    if (!p || p.exitCode !== null || p.signalCode !== null) return
    const exited = new Promise((r) => p.once('exit', r))
    p.kill('SIGINT')
    await exited
  }
  await stop(worker)
  await up?.stop()
  rmSync(work, { recursive: true, force: true })
})

async function send(path: string, ua: string, token?: string): Promise<void> {
  const ctx = await openEventContext(site, Buffer.from(ingestKey, 'hex'))
  const body = JSON.stringify(await sealEvent(ctx, 0, { n: 'pageview', u: `https://${DOMAIN}${path}`, d: site, r: null, w: 1280, ...(token ? { i: token } : {}) }))
  const res = await fetch(`${gatewayUrl}/api/event`, { method: 'POST', body, headers: { 'content-type': 'text/plain', 'user-agent': ua } })
  assert.equal(res.status, 200, await res.text())
}

async function ask(keys: VisitorKeys, action: VisitorAction): Promise<VisitorAnswer> {
  const request = await visitorRequest(keys, site, action)
  const res = await fetch(`${gatewayUrl}/api/v1/visitor`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) })
  const answer = (await res.json()) as VisitorAnswer
  assert.equal(res.status, 200, JSON.stringify(answer))
  const worker = ((await (await fetch(`${gatewayUrl}/api/v1/ingest`)).json()) as { address: string }).address
  assert.equal(await receiptProblem(answer, request, worker), null)
  return answer
}

async function siteStatus(): Promise<{ manifestCid: string; segments: number; pending: number } | undefined> {
  const res = await fetch(`${gatewayUrl}/api/v1/ingest/status`).catch(() => undefined)
  if (!res?.ok) return undefined
  return ((await res.json()) as { sites: { site: string; manifestCid: string; segments: number; pending: number }[] }).sites.find((s) => s.site === site)
}

async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 180_000): Promise<T> {
  const end = Date.now() + ms
  let v = await get()
  while (!ok(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 500))
    v = await get()
  }
  assert.ok(ok(v), `${what}: ${JSON.stringify(v)}`)
  return v
}

async function manifestAt(cid: string): Promise<DatasetManifest> {
  const parsed = CID.parse(cid)
  const bytes = new Uint8Array(await (await fetch(`${gatewayUrl}/ipfs/${cid}?format=raw`)).arrayBuffer())
  await verifyBlock(parsed, bytes)
  return decodeManifest(bytes)
}

const fetchCar = async (cid: CID) => {
  const res = await fetch(`${gatewayUrl}/ipfs/${cid}?format=car`)
  if (!res.ok || !res.body) throw new Error(`storage answered ${res.status} for ${cid}`)
  return res.body as unknown as AsyncIterable<Uint8Array>
}

test("a deletion rewrites the site's stored segments under a new key, survives a kill -9 of the ingest worker, and leaves exactly the other visitors", { timeout: 600_000 }, async () => {
  const [a, b] = [await makeVisitorKeys(), await makeVisitorKeys()]
  const [ta, tb] = [await optInToken(a, site), await optInToken(b, site)]
  for (let v = 0; v < 10; v++) await send('/', `${UA} anonymous-${v}`)
  for (const p of ['/', '/pricing', '/about']) await send(p, `${UA} a`, ta)
  for (const p of ['/', '/pricing', '/blog']) await send(p, `${UA} b`, tb)
  // Into the site's dataset: every row in a stored segment.
  const before = (await until('the rows are appended', siteStatus, (s) => s?.pending === 0 && s.segments >= 2))!
  const old = await manifestAt(before.manifestCid)
  assert.equal(old.rows, 16)
  const visitorB = (await ask(b, 'export')).receipt.visitor

  // A deletes; the worker is killed with -9 while its rewrite is under way, after B's two events were acknowledged.
  const deleted = await ask(a, 'delete')
  assert.equal(deleted.receipt.segments, 'pending')
  const visitorA = deleted.receipt.visitor
  // The deletion is in the sealed site book (a file of the sealed head, named by its version); the next version of it is the rewrite, sealed with its new key.
  const enclaveDir = join(dataDir, 'worker-0', 'enclave')
  const book = () => readdirSync(enclaveDir).find((n) => /^sites\.\d+\.sealed$/.test(n))
  const queued = book()
  await send('/late-1', `${UA} b`, tb)
  await send('/late-2', `${UA} b`, tb)
  for (let i = 0; i < 6000 && book() === queued; i++) await new Promise((r) => setTimeout(r, 10))
  assert.ok(book() !== queued, 'the rewrite was not prepared within 60 s')
  const host = childrenOf(up!.proc.pid!).find((p) => / worker --keeper /.test(cmdline(p)))
  assert.ok(host !== undefined, 'no worker process under w3a up')
  const enclaves = childrenOf(host)
  for (const pid of [...enclaves, host]) process.kill(pid, 'SIGKILL')
  await until('the worker is gone', async () => [host, ...enclaves].filter((p) => cmdline(p) !== ''), (alive) => alive.length === 0, 10_000)

  // The same worker again (what `w3a up` starts), on the same data directory and port.
  worker = spawn(process.execPath, [BIN, 'worker', '--keeper', '--tee', 'sim', '--gateway', gatewayUrl, '--data-dir', join(dataDir, 'worker-0'), '--operator-account', '0'], { env, stdio: ['ignore', 'ignore', 'inherit'] })
  const done = await until(
    "A's deletion reaches the stored segments",
    () => ask(a, 'rewrite').catch(() => undefined),
    (r) => r !== undefined && r.receipt.segments !== 'pending',
  )
  const rewritten = done!.receipt
  assert.equal(rewritten.rows, 3, "A's three rows were dropped from the stored segments")
  const after = (await until('the late rows are appended too', siteStatus, (s) => s?.pending === 0 && s.manifestCid !== rewritten.segments))!
  const listed = await w3a(['site', 'ls', '--account', '0'])
  assert.equal(listed.json[0].manifestCid, after.manifestCid, 'the registry points at the manifest the worker appended after the rewrite')

  // Stats by a job, on the stored segments: custody released the new key, and only the ten and B are counted.
  const totals = await w3a(['site', 'stats', DOMAIN, '--metrics', 'visitors,pageviews', '--period', 'all', '--epsilon', '0', '--account', '0'])
  assert.equal(totals.code, 0, totals.stderr)
  assert.deepEqual(totals.json.results, [{ dimensions: [], metrics: [11, 15] }])

  // The owner downloads the site dataset: B's rows (the late ones too), none of A's.
  const out = join(work, 'site.jsonl')
  const download = await w3a(['dataset', 'download', site, '--out', out, '--account', '0'])
  assert.equal(download.code, 0, download.stderr)
  const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { visitor_id: string; page: string })
  assert.equal(rows.length, 15)
  assert.equal(rows.filter((r) => r.visitor_id === visitorA).length, 0)
  assert.deepEqual(rows.filter((r) => r.visitor_id === visitorB).map((r) => r.page).sort(), ['/', '/blog', '/late-1', '/late-2', '/pricing'])
  const mine = await ask(a, 'export')
  assert.deepEqual((await openBox(a, mine.box!)).rows, [])

  // The old segments and manifest are gone from the storage node.
  for (const cid of [before.manifestCid, ...old.segments.map((s) => s.cid.toString())]) {
    assert.equal((await fetch(`${gatewayUrl}/ipfs/${cid}?format=raw`)).status, 404, `old block ${cid} is still served`)
  }
  // The owner's original site key does not open the new segments. (The current manifest: the
  // rewrite's own was replaced by the late rows' flush, which unpins it.)
  const now = await manifestAt(after.manifestCid)
  await assert.rejects(
    loadSegments({ manifest: now, dek: await siteKey(owner, DOMAIN), fetchCar, dir: mkdtempSync(join(work, 'old-key-')) }),
    (e) => isW3aError(e, 'ENVELOPE_AUTH_FAILED'),
  )
  // Someone who is neither the owner nor the writer cannot unpin the site's blocks.
  const roots = [after.manifestCid]
  const stranger = await signUnpin({ account: devAccount(3), datasetId: site, roots, chainId: 31337 })
  const refused = await fetch(`${gatewayUrl}/api/v1/datasets/${site}/unpin`, { method: 'POST', headers: { 'content-type': 'application/json', ...stranger }, body: JSON.stringify({ roots }) })
  assert.equal(refused.status, 403)
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'ACCESS_DENIED')
  // Even the owner (or a lying worker host, through its writer key) cannot unpin the live version: the node keeps what the registry's manifest links.
  const live = await signUnpin({ account: owner, datasetId: site, roots, chainId: 31337 })
  const kept = await fetch(`${gatewayUrl}/api/v1/datasets/${site}/unpin`, { method: 'POST', headers: { 'content-type': 'application/json', ...live }, body: JSON.stringify({ roots }) })
  assert.equal(kept.status, 200)
  const answer = (await kept.json()) as { blocks: number; kept: number }
  assert.deepEqual([answer.blocks, answer.kept], [0, 1])
  assert.equal((await fetch(`${gatewayUrl}/ipfs/${after.manifestCid}?format=raw`)).status, 200)
  assert.equal((await w3a(['dataset', 'download', site, '--out', join(work, 'again.jsonl'), '--account', '0'])).code, 0)
})
