/**
 * A gateway that lies, on a real devnet: a small HTTP proxy in front of the real gateway
 * that, one lie at a time, (a) alters a block it serves, (b) serves another dataset's
 * manifest (bytes under the asked CID, and the CID in the dataset record), (c) cuts a
 * segment's CAR short at a block boundary, (d) names another chain id or registry in its
 * network description. The real client refuses each on its own checks (the storage node
 * behind the proxy is honest, so nothing upstream refuses first): the SDK download, the job
 * path (runQuery) and the CLI, with a stable error code, and nothing is decrypted from altered
 * bytes (no output file appears). Also: the CLI's pins (`w3a network add / ls / remove`),
 * NETWORK_NOT_PINNED, and code on chain that differs from the pinned hash.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { CarBlockIterator } from '@ipld/car/iterator'
import { CarWriter } from '@ipld/car/writer'
import type { Hex } from 'viem'
import { startDevnet, DEVNET_PIN_NAME, type RunningDevnet } from '../src/node/up.js'
import { serveHttp, type HttpServer } from '../src/node/http-server.js'
import { createChainClients, devAccount, listJobs } from '../src/chain/index.js'
import { createW3aClient, downloadDataset, runQuery, uploadDataset, type PinnedNetwork, type W3aClient } from '../src/sdk/index.js'
import { fetchManifest } from '../src/sdk/actions/downloadDataset.js'
import { readPins } from '../src/core/network-pins-file.js'
import { isW3aError, type W3aErrorCode } from '../src/core/errors.js'
import { runW3a, type W3aRun } from './w3a-up-process.js'

const work = mkdtempSync(join(tmpdir(), 'w3a-lying-'))
const dataDir = join(work, 'devnet')
const owner = devAccount(1)
const analyst = devAccount(2)

type Lie =
  | { kind: 'none' }
  | { kind: 'alter-block'; cid: string }
  | { kind: 'swap-manifest'; asked: string; served: string; datasetId: string }
  | { kind: 'truncate-car'; cid: string }
  | { kind: 'network'; patch: (info: Record<string, any>) => void }

let devnet: RunningDevnet
let proxy: HttpServer
let lie: Lie = { kind: 'none' }
let pin: PinnedNetwork
let ownerVia: W3aClient // the owner's pinned client, through the proxy
let a: { id: Hex; manifestCid: string; segment: string }
let b: { id: Hex; manifestCid: string }
const served: string[] = [] // what the proxy altered, so a test knows its lie was reached

/** A CARv1 of the same root with every block but the last: well-formed, incomplete. */
async function dropLastBlock(car: Uint8Array): Promise<Uint8Array> {
  const reader = await CarBlockIterator.fromBytes(car)
  const blocks = []
  for await (const block of reader) blocks.push(block)
  assert.ok(blocks.length > 1, 'the segment CAR has more than one block')
  const { writer, out } = CarWriter.create(await reader.getRoots())
  const chunks: Uint8Array[] = []
  const collected = (async () => {
    for await (const c of out) chunks.push(c)
  })()
  for (const block of blocks.slice(0, -1)) await writer.put(block)
  await writer.close()
  await collected
  return Buffer.concat(chunks)
}

/** The proxy: forwards to the real gateway, then tells the current lie. */
async function lyingGateway(req: Request): Promise<Response> {
  const url = new URL(req.url)
  const upstream = `${devnet.gatewayUrl}${url.pathname}${url.search}`
  const headers = new Headers()
  req.headers.forEach((v, k) => {
    if (k === 'accept' || k === 'content-type' || (k.startsWith('x-w3a-') && k !== 'x-w3a-client-ip')) headers.set(k, v)
  })
  const init: RequestInit = { method: req.method, headers }
  if (req.method !== 'GET' && req.method !== 'HEAD') Object.assign(init, { body: await req.arrayBuffer() })
  const l = lie
  if (l.kind === 'swap-manifest' && url.pathname === `/ipfs/${l.served}`) {
    // fall through: the real bytes of the served manifest
  } else if (l.kind === 'swap-manifest' && url.pathname === `/ipfs/${l.asked}`) {
    served.push('manifest bytes')
    return fetch(`${devnet.gatewayUrl}/ipfs/${l.served}${url.search}`, init)
  }
  const res = await fetch(upstream, init)
  const body = new Uint8Array(await res.arrayBuffer())
  const replyHeaders = new Headers(res.headers)
  replyHeaders.delete('content-length')
  replyHeaders.delete('content-encoding')
  const reply = (bytes: Uint8Array) => new Response(bytes as BodyInit, { status: res.status, headers: replyHeaders })
  if (l.kind === 'alter-block' && url.pathname === `/ipfs/${l.cid}` && res.ok) {
    const altered = body.slice()
    altered[altered.length - 1]! ^= 0x01 // the last byte: data of the CAR's last block
    served.push('altered block')
    return reply(altered)
  }
  if (l.kind === 'truncate-car' && url.pathname === `/ipfs/${l.cid}` && res.ok) {
    served.push('truncated car')
    return reply(await dropLastBlock(body))
  }
  if (l.kind === 'swap-manifest' && url.pathname === `/api/v1/datasets/${l.datasetId}` && res.ok) {
    const record = JSON.parse(new TextDecoder().decode(body))
    record.dataset.manifestCid = l.served
    served.push('dataset record')
    return reply(new TextEncoder().encode(JSON.stringify(record)))
  }
  if (l.kind === 'network' && url.pathname === '/api/v1/network' && res.ok) {
    const info = JSON.parse(new TextDecoder().decode(body))
    l.patch(info)
    served.push('network')
    return reply(new TextEncoder().encode(JSON.stringify(info)))
  }
  return reply(body)
}

const w3a = (args: string[]): Promise<W3aRun> => runW3a(args, { ...process.env, W3A_DATA_DIR: dataDir, W3A_GATEWAY: '' })

/** Runs `fn` under a lie; the lie must have been told (the client reached it) and refused with `code`. */
async function refusedUnder(l: Lie, code: W3aErrorCode, fn: () => Promise<unknown>): Promise<void> {
  lie = l
  served.length = 0
  try {
    await assert.rejects(fn(), (e) => isW3aError(e, code) || assert.fail(`expected ${code}, got ${(e as Error).message}`))
    assert.ok(served.length > 0, `the proxy told its lie (${l.kind})`)
  } finally {
    lie = { kind: 'none' }
  }
}

before(async () => {
  devnet = await startDevnet({ dataDir, port: 0 })
  proxy = await serveHttp(lyingGateway, { port: 0 })
  const pinned = readPins(dataDir)[DEVNET_PIN_NAME]
  assert.ok(pinned, '`w3a up` pinned its devnet in its data dir')
  pin = pinned
  ownerVia = createW3aClient({ gatewayUrl: proxy.url, account: owner, network: pin })
  const csv = (name: string, rows: string[]) => {
    const f = join(work, name)
    writeFileSync(f, ['user,city,score,note', ...rows].join('\n') + '\n')
    return f
  }
  // Random notes make a's one segment span several 256 KiB blocks (so a CAR can lose one whole).
  const note = () => randomBytes(8 * 1024).toString('hex')
  // Uploaded through the honest proxy, so every byte the lies replace is real and decryptable by the owner.
  const upA = await uploadDataset(ownerVia, { file: csv('a.csv', Array.from({ length: 40 }, (_, i) => `a${i},Lisbon,${i},${note()}`)), name: 'a', privacyUnit: 'user' })
  const upB = await uploadDataset(ownerVia, { file: csv('b.csv', Array.from({ length: 40 }, (_, i) => `b${i},Osaka-secret-of-b,${i},x`)), name: 'b', privacyUnit: 'user' })
  const manifestA = await fetchManifest(ownerVia, upA.manifestCid)
  a = { id: upA.id, manifestCid: upA.manifestCid, segment: manifestA.segments[0]!.cid.toString() }
  b = { id: upB.id, manifestCid: upB.manifestCid }
})

after(async () => {
  await proxy?.close()
  await devnet?.stop()
  rmSync(work, { recursive: true, force: true })
})

test('honest proxy: the pinned owner downloads dataset a as uploaded', async () => {
  const out = join(work, 'honest.csv')
  const r = await downloadDataset(ownerVia, { id: a.id, out })
  assert.equal(r.rows, 40)
  assert.match(readFileSync(out, 'utf8'), /a39,Lisbon,39/)
})

test('(a) an altered block: the SDK download refuses it (BLOCK_HASH_MISMATCH), nothing is written', async () => {
  const out = join(work, 'altered.csv')
  await refusedUnder({ kind: 'alter-block', cid: a.segment }, 'BLOCK_HASH_MISMATCH', () => downloadDataset(ownerVia, { id: a.id, out }))
  assert.equal(existsSync(out), false)
  // The manifest block too: one flipped byte under its CID.
  await refusedUnder({ kind: 'alter-block', cid: a.manifestCid }, 'BLOCK_HASH_MISMATCH', () => downloadDataset(ownerVia, { id: a.id, out }))
  assert.equal(existsSync(out), false)
})

test("(b) another dataset's manifest under a's CID is refused; a's record naming b's manifest is not believed", async () => {
  const out = join(work, 'swapped.csv')
  // b's manifest is a valid one that this owner can open: only its CID check stops it.
  await refusedUnder({ kind: 'swap-manifest', asked: a.manifestCid, served: b.manifestCid, datasetId: a.id }, 'BLOCK_HASH_MISMATCH', () => downloadDataset(ownerVia, { id: a.id, out }))
  assert.equal(existsSync(out), false)

  // Only the dataset record lies (honest blocks): the client reads the record from the chain, and gets a, not b.
  lie = { kind: 'swap-manifest', asked: 'none', served: b.manifestCid, datasetId: a.id }
  try {
    const info = await ownerVia.gateway.getJson<{ dataset: { manifestCid: string } }>(`/api/v1/datasets/${a.id}`)
    assert.equal(info.dataset.manifestCid, b.manifestCid, 'the proxy does lie about the record')
    await downloadDataset(ownerVia, { id: a.id, out })
  } finally {
    lie = { kind: 'none' }
  }
  const text = readFileSync(out, 'utf8')
  assert.match(text, /a0,Lisbon,0/)
  assert.doesNotMatch(text, /secret-of-b/)
})

test('(c) a truncated CAR (its last block dropped, still well-formed) is refused (CAR_MALFORMED), nothing is written', async () => {
  const out = join(work, 'truncated.csv')
  await refusedUnder({ kind: 'truncate-car', cid: a.segment }, 'CAR_MALFORMED', () => downloadDataset(ownerVia, { id: a.id, out }))
  assert.equal(existsSync(out), false)
})

test('(d) another chain id or registry: the pinned SDK refuses before any transaction (NETWORK_MISMATCH)', async () => {
  const publicClient = createChainClients({ rpcUrl: devnet.rpcUrl, chainId: devnet.chainId }).publicClient
  const jobsBefore = (await listJobs(publicClient, { jobs: devnet.contracts.jobs })).length
  const decoy = devnet.contracts.token // a real contract, just not the registry
  for (const [patch, field] of [
    [(i: Record<string, any>) => (i['chainId'] = 1), /chainId is 31337 in the pin/],
    [(i: Record<string, any>) => (i['contracts']['datasetRegistry'] = decoy), /contracts\.datasetRegistry is 0x/],
  ] as const) {
    // The job path: a fresh analyst client (the network is checked once per client).
    const analystVia = createW3aClient({ gatewayUrl: proxy.url, account: analyst, network: pin })
    await refusedUnder({ kind: 'network', patch }, 'NETWORK_MISMATCH', async () => {
      try {
        await runQuery(analystVia, { id: a.id, sql: 'SELECT COUNT(*) FROM data' })
      } catch (e) {
        assert.match((e as Error).message, field)
        assert.match((e as Error).message, /w3a network remove devnet && w3a network add devnet --gateway/)
        throw e
      }
    })
    // The owner's download too, on a client that has not checked yet.
    const ownerFresh = createW3aClient({ gatewayUrl: proxy.url, account: owner, network: pin })
    await refusedUnder({ kind: 'network', patch }, 'NETWORK_MISMATCH', () => downloadDataset(ownerFresh, { id: a.id, out: join(work, 'd.csv') }))
  }
  assert.equal((await listJobs(publicClient, { jobs: devnet.contracts.jobs })).length, jobsBefore, 'no job was submitted')
  assert.equal(existsSync(join(work, 'd.csv')), false)
})

test('a pinned code hash that the chain does not hold: NETWORK_MISMATCH naming the contract', async () => {
  const forged: PinnedNetwork = { ...pin, codeHashes: { ...pin.codeHashes, custodyInbox: `0x${'ab'.repeat(32)}` } }
  const c = createW3aClient({ gatewayUrl: proxy.url, account: owner, network: forged })
  await assert.rejects(c.network(), (e) => isW3aError(e, 'NETWORK_MISMATCH') && /code of contracts\.custodyInbox/.test(e.message))
})

test('CLI: each lie refused with its code; no pin for a gateway → NETWORK_NOT_PINNED naming `w3a network add`', async () => {
  const out = join(work, 'cli.csv')
  const download = (extra: string[]) => w3a(['dataset', 'download', a.id, '--out', out, '--account', '1', '--gateway', proxy.url, ...extra, '--json'])

  const unpinned = await download([])
  assert.notEqual(unpinned.code, 0)
  assert.equal(unpinned.json?.error?.code, 'NETWORK_NOT_PINNED', unpinned.out)
  assert.match(unpinned.out, new RegExp(`w3a network add NAME --gateway ${proxy.url.replace(/[.]/g, '\\.')}`))

  // The devnet's pin, reached through another gateway with --network.
  const honest = await download(['--network', DEVNET_PIN_NAME])
  assert.equal(honest.code, 0, honest.out)
  rmSync(out)
  for (const [l, code] of [
    [{ kind: 'alter-block', cid: a.segment }, 'BLOCK_HASH_MISMATCH'],
    [{ kind: 'truncate-car', cid: a.segment }, 'CAR_MALFORMED'],
    [{ kind: 'swap-manifest', asked: a.manifestCid, served: b.manifestCid, datasetId: a.id }, 'BLOCK_HASH_MISMATCH'],
    [{ kind: 'network', patch: (i: Record<string, any>) => (i['chainId'] = 5) }, 'NETWORK_MISMATCH'],
  ] as [Lie, W3aErrorCode][]) {
    lie = l
    served.length = 0
    const r = await download(['--network', DEVNET_PIN_NAME])
    lie = { kind: 'none' }
    assert.notEqual(r.code, 0, `${l.kind}: ${r.out}`)
    assert.equal(r.json?.error?.code, code, `${l.kind}: ${r.out}`)
    assert.ok(served.length > 0, `the proxy told its lie (${l.kind})`)
    assert.equal(existsSync(out), false, `${l.kind}: nothing written`)
  }
})

test('CLI: w3a network add pins the proxy while honest, ls shows it, a later lie is refused, remove forgets it', async () => {
  const added = await w3a(['network', 'add', 'via-proxy', '--gateway', proxy.url, '--json'])
  assert.equal(added.code, 0, added.out)
  assert.equal(added.json.pinned.chainId, devnet.chainId)
  assert.deepEqual(added.json.pinned.codeHashes, pin.codeHashes, 'the same code as `w3a up` pinned')
  const ls = await w3a(['network', 'ls', '--json'])
  assert.deepEqual(ls.json.networks.map((n: PinnedNetwork) => n.name).sort(), [DEVNET_PIN_NAME, 'via-proxy'])

  lie = { kind: 'network', patch: (i) => (i['contracts']['custodyInbox'] = devnet.contracts.market) }
  const r = await w3a(['dataset', 'download', a.id, '--out', join(work, 'p.csv'), '--account', '1', '--gateway', proxy.url, '--json'])
  lie = { kind: 'none' }
  assert.equal(r.json?.error?.code, 'NETWORK_MISMATCH', r.out)
  assert.match(r.json.error.message, /contracts\.custodyInbox/)

  // Re-adding under the same name while the gateway names other contracts changes nothing.
  lie = { kind: 'network', patch: (i) => (i['contracts']['custodyInbox'] = devnet.contracts.market) }
  const again = await w3a(['network', 'add', 'via-proxy', '--gateway', proxy.url, '--json'])
  lie = { kind: 'none' }
  assert.equal(again.json?.error?.code, 'NETWORK_MISMATCH', again.out)

  const removed = await w3a(['network', 'remove', 'via-proxy', '--json'])
  assert.equal(removed.code, 0, removed.out)
  assert.deepEqual(Object.keys(readPins(dataDir)), [DEVNET_PIN_NAME])
})
