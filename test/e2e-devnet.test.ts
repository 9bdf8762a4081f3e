/**
 * End to end, through the real `w3a` binary: `w3a up` in a temp dir, upload a CSV,
 * stop, start again on the same data dir, download identical rows. Then the attacks:
 * a second `w3a up` on the same dir, a tampered block on the storage node's disk,
 * and a search for every plaintext value in the blockstore and the chain state file. Then the
 * owner's path through the market and custody: an upload is unlisted until `market list` (which
 * wants the policy set first), and `dataset delete` asks to confirm, drops the blocks from the
 * storage node, and sends nothing the second time.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { get } from 'node:http'
import { mkdtempSync, writeFileSync, readFileSync, readdirSync, statSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'

const BIN = join(import.meta.dirname, '..', 'bin', 'w3a.mjs')
const work = mkdtempSync(join(tmpdir(), 'w3a-e2e-'))
const dataDir = join(work, 'data')

type Up = { proc: ChildProcess; gatewayUrl: string; rpcUrl: string; stderr: string[] }

async function startUp(): Promise<Up> {
  const proc = spawn(process.execPath, [BIN, 'up', '--data-dir', dataDir, '--port', '0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const stderr: string[] = []
  createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l))
  const lines = createInterface({ input: proc.stdout! })
  return await new Promise<Up>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`w3a up not ready in 60s; stderr:\n${stderr.join('\n')}`)), 60_000)
    proc.once('exit', (code) => reject(new Error(`w3a up exited early (${code}); stderr:\n${stderr.join('\n')}`)))
    lines.once('line', (line) => {
      clearTimeout(timer)
      const ready = JSON.parse(line) as { ready: boolean; gatewayUrl: string; rpcUrl: string }
      assert.equal(ready.ready, true)
      resolve({ proc, gatewayUrl: ready.gatewayUrl, rpcUrl: ready.rpcUrl, stderr })
    })
  })
}

async function stopUp(up: Up): Promise<number | null> {
  if (up.proc.exitCode !== null) return up.proc.exitCode
  up.proc.removeAllListeners('exit')
  const exited = new Promise<number | null>((resolve) => up.proc.once('exit', (code) => resolve(code)))
  up.proc.kill('SIGINT')
  return await exited
}

function w3a(args: string[]): { code: number; stdout: string; stderr: string; json: any } {
  // W3A_DATA_DIR: the devnet's own pin (`w3a up` writes it there) is the network these commands trust.
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, W3A_DATA_DIR: dataDir } })
  let json: unknown
  try {
    json = JSON.parse(r.stdout)
  } catch {
    json = undefined
  }
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json }
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? filesUnder(p) : [p]
  })
}

// Distinctive plaintext values: long random strings cannot appear in ciphertext by chance.
const rows = Array.from({ length: 50 }, (_, i) => ({
  user_id: `user-${randomBytes(6).toString('hex')}`,
  email: `${randomBytes(5).toString('hex')}@plaintext-canary.example`,
  city: ['Lisbon', 'Osaka', 'Nairobi'][i % 3]!,
  amount: (i * 7.25).toFixed(2),
}))
const csv = ['user_id,email,city,amount', ...rows.map((r) => `${r.user_id},${r.email},${r.city},${r.amount}`)].join('\n') + '\n'
const csvFile = join(work, 'visits.csv')
writeFileSync(csvFile, csv)

let up: Up | undefined
before(async () => {
  up = await startUp()
})
after(async () => {
  if (up) await stopUp(up)
  rmSync(work, { recursive: true, force: true })
})

let datasetId = ''

test('upload encrypts, stores and registers; the dataset is registered unlisted, not on the market', () => {
  // The price is set when listing: upload refuses it and says what to run.
  const priced = w3a(['dataset', 'upload', csvFile, '--name', 'visits', '--price', '2.5', '--account', '0', '--gateway', up!.gatewayUrl, '--json'])
  assert.notEqual(priced.code, 0)
  assert.equal(priced.json.error.code, 'INVALID_ARGUMENT')
  assert.match(priced.json.error.details.join('\n'), /w3a market list ID --price 2\.5 --summary ".*" --account 0/)

  const r = w3a(['dataset', 'upload', csvFile, '--name', 'visits', '--privacy-unit', 'user_id', '--rows-per-segment', '20', '--account', '0', '--gateway', up!.gatewayUrl, '--json'])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.json.id, /^0x[0-9a-f]{64}$/)
  assert.match(r.json.manifestCid, /^bag/) // CIDv1 base32, dag-json
  assert.equal(r.json.rows, 50)
  assert.equal(r.json.segments, 3)
  assert.match(r.json.tx, /^0x[0-9a-f]{64}$/)
  datasetId = r.json.id

  const ls = w3a(['dataset', 'ls', '--gateway', up!.gatewayUrl, '--json'])
  assert.equal(ls.code, 0, ls.stderr)
  const listed = ls.json.datasets.find((d: { id: string }) => d.id === datasetId)
  assert.ok(listed, 'uploaded dataset is registered')
  assert.equal(listed.name, 'visits')
  assert.equal(listed.pricePerQuery, '0')
  assert.equal(listed.status, 'unlisted')
  const market = w3a(['market', 'ls', '--gateway', up!.gatewayUrl, '--json'])
  assert.equal(market.code, 0, market.stderr)
  assert.deepEqual(market.json.datasets, [], 'not on the market before `market list`')

  const show = w3a(['dataset', 'show', datasetId, '--gateway', up!.gatewayUrl, '--json'])
  assert.equal(show.code, 0, show.stderr)
  assert.equal(show.json.manifest.rows, 50)
  assert.deepEqual(show.json.manifest.schema.columns.map((c: { name: string }) => c.name), ['user_id', 'email', 'city', 'amount'])
})

test('status reports the chain and the contracts', () => {
  const r = w3a(['status', '--gateway', up!.gatewayUrl, '--json'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.json.chain.chainId, 31337)
  assert.equal(r.json.chain.reachable, true)
  assert.match(r.json.contracts.datasetRegistry, /^0x[0-9a-fA-F]{40}$/)
})

test('a second `w3a up` on the same data dir is refused', () => {
  const r = w3a(['up', '--data-dir', dataDir, '--port', '0'])
  assert.notEqual(r.code, 0)
  assert.match(r.stderr, /DATA_DIR_IN_USE/)
})

test('another account cannot download the rows', () => {
  const r = w3a(['dataset', 'download', datasetId, '--out', join(work, 'stolen.csv'), '--account', '1', '--gateway', up!.gatewayUrl])
  assert.notEqual(r.code, 0)
  assert.match(r.stderr, /NOT_OWNER/)
  assert.equal(existsSync(join(work, 'stolen.csv')), false)
})

test('after a restart on the same data dir, the owner downloads identical rows (csv, jsonl, parquet)', async () => {
  assert.equal(await stopUp(up!), 0, 'w3a up stops cleanly on SIGINT')
  up = await startUp()
  const out = join(work, 'back.csv')
  const r = w3a(['dataset', 'download', datasetId, '--out', out, '--account', '0', '--gateway', up.gatewayUrl, '--json'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.json.rows, 50)
  const back = readFileSync(out, 'utf8').trim().split('\n')
  assert.deepEqual(back[0], 'user_id,email,city,amount')
  const got = back.slice(1).map((l) => l.split(','))
  assert.deepEqual(
    got.map(([u, e, c, a]) => ({ user_id: u, email: e, city: c, amount: Number(a).toFixed(2) })),
    rows,
  )
  for (const ext of ['jsonl', 'parquet']) {
    const f = join(work, `back.${ext}`)
    const d = w3a(['dataset', 'download', datasetId, '--out', f, '--account', '0', '--gateway', up.gatewayUrl])
    assert.equal(d.code, 0, d.stderr)
    assert.ok(statSync(f).size > 0)
  }
  const jsonl = readFileSync(join(work, 'back.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  assert.deepEqual(jsonl.map((o) => o.email), rows.map((r) => r.email))
})

test('no plaintext value of the uploaded file appears in the blockstore or the chain state', async () => {
  // Stop so that anvil dumps its full state file, then search everything on disk.
  assert.equal(await stopUp(up!), 0)
  const files = [...filesUnder(join(dataDir, 'blocks')), join(dataDir, 'chain', 'anvil-state.json')]
  assert.ok(files.length >= 5, 'blocks were stored (3 segments + manifest) and the chain state')
  assert.ok(statSync(join(dataDir, 'chain', 'anvil-state.json')).size > 1000, 'chain state was dumped')
  const haystack = Buffer.concat(files.map((f) => readFileSync(f)))
  for (const r of rows) {
    for (const value of [r.user_id, r.email]) {
      assert.equal(haystack.includes(Buffer.from(value)), false, `plaintext "${value}" found on disk`)
      assert.equal(haystack.includes(Buffer.from(Buffer.from(value).toString('hex'))), false, `hex of "${value}" found on disk`)
    }
  }
  assert.equal(haystack.includes(Buffer.from('plaintext-canary')), false)
  up = await startUp()
})

test('a block tampered on the storage node is detected and nothing is written', () => {
  const blockFiles = filesUnder(join(dataDir, 'blocks')).filter((f) => statSync(f).size > 500)
  assert.ok(blockFiles.length > 0)
  // Flip one byte in every large block on disk: the storage node finds its stored copies corrupt.
  const originals = blockFiles.map((f) => readFileSync(f))
  try {
    for (const f of blockFiles) {
      const b = readFileSync(f)
      b[b.length >> 1]! ^= 0x01
      writeFileSync(f, b)
    }
    const out = join(work, 'tampered.csv')
    const r = w3a(['dataset', 'download', datasetId, '--out', out, '--account', '0', '--gateway', up!.gatewayUrl])
    assert.notEqual(r.code, 0)
    // The storage node checks what it holds and refuses to serve a corrupt block (BLOCK_NOT_FOUND);
    // the client's own checks, reached through a gateway that lies, are in test/lying-gateway.test.ts.
    assert.match(r.stderr, /BLOCK_NOT_FOUND|BLOCK_HASH_MISMATCH|ENVELOPE_AUTH_FAILED/)
    assert.equal(existsSync(out), false, 'no output file is left behind')
  } finally {
    blockFiles.forEach((f, i) => writeFileSync(f, originals[i]!))
  }
})

test('bad input: malformed file, missing privacy unit, unreachable gateway, unknown option', () => {
  const bad = join(work, 'bad.csv')
  writeFileSync(bad, 'a,b,c\n1,2,3\n4,5\n6,7,8\n')
  let r = w3a(['dataset', 'upload', bad, '--name', 'bad', '--account', '0', '--gateway', up!.gatewayUrl])
  assert.notEqual(r.code, 0)
  assert.match(r.stderr, /INPUT_MALFORMED/)

  r = w3a(['dataset', 'upload', csvFile, '--name', 'x', '--privacy-unit', 'nope', '--account', '0', '--gateway', up!.gatewayUrl, '--json'])
  assert.notEqual(r.code, 0)
  assert.equal(r.json.error.code, 'PRIVACY_UNIT_MISSING')
  assert.match(r.json.error.details.join(' '), /user_id/)

  r = w3a(['dataset', 'upload', join(work, 'missing.csv'), '--name', 'x', '--account', '0', '--gateway', up!.gatewayUrl])
  assert.match(r.stderr, /INPUT_UNREADABLE/)

  r = w3a(['dataset', 'ls', '--gateway', 'http://127.0.0.1:9', '--json'])
  assert.notEqual(r.code, 0)
  assert.equal(r.json.error.code, 'GATEWAY_UNREACHABLE')

  r = w3a(['dataset', 'ls', '--bogus'])
  assert.notEqual(r.code, 0)
  assert.match(r.stderr, /INVALID_ARGUMENT.*bogus/)

  // Nothing was registered by the failed uploads.
  const ls = w3a(['dataset', 'ls', '--gateway', up!.gatewayUrl, '--json'])
  assert.deepEqual(ls.json.datasets.map((d: { id: string }) => d.id), [datasetId])
})

/**
 * The status of a GET on a connection of its own. `w3a()` blocks this process's event loop
 * (spawnSync) for longer than the gateway's 5 s keep-alive: a socket fetch() pooled before it is
 * one the server closed meanwhile, and reusing it fails with UND_ERR_SOCKET ("fetch failed").
 */
function statusOf(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    }).on('error', reject)
  })
}

async function nonceOfAccount0(): Promise<number> {
  const res = await fetch(up!.rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_getTransactionCount', params: ['0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266', 'latest'] }),
  })
  return Number(((await res.json()) as { result: string }).result)
}

test('custody and market through the CLI: grant, access, list needs a policy, revoke, delete drops the blocks', async () => {
  const workers = w3a(['workers', 'ls', '--gateway', up!.gatewayUrl, '--json'])
  assert.equal(workers.code, 0, workers.stderr)
  const keeper = workers.json.workers.find((w: { roles: string[] }) => w.roles.includes('keeper'))
  assert.ok(keeper, 'the devnet runs a keeper')
  assert.equal(keeper.teeType, 'sim')
  assert.equal(keeper.tee, 'sim (dev)')
  assert.equal(keeper.status, 'online')

  const analyst = '0x90F79bf6EB2c4f870365E785982E1f101E93b906' // dev account 3
  const common = ['--account', '0', '--gateway', up!.gatewayUrl, '--json']
  let r = w3a(['dataset', 'grant', datasetId, analyst, '--uses', '3', ...common])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.json.receipt.status, 'applied')

  // Listing before the policy is set is refused, naming the command to run.
  const listArgs = ['market', 'list', datasetId, '--price', '2.5', '--summary', 'k=5; ε budget 2; dimensions city; measures amount', ...common]
  r = w3a(listArgs)
  assert.notEqual(r.code, 0)
  assert.equal(r.json.error.code, 'POLICY_NOT_SET')
  assert.match(r.json.error.details.join('\n'), /w3a dataset policy 0x[0-9a-f]{64} .*--account N/)

  // A measure without public bounds (DP needs them), or a column the dataset lacks, is refused before anything is sent.
  r = w3a(['dataset', 'policy', datasetId, '--k', '5', '--dimensions', 'city', '--measures', 'amount', ...common])
  assert.notEqual(r.code, 0)
  assert.equal(r.json.error.code, 'POLICY_INVALID')
  assert.match(r.json.error.details.join('\n'), /amount has no bounds/)
  r = w3a(['dataset', 'policy', datasetId, '--k', '5', '--dimensions', 'cty', '--measures', 'amount:0:1000', ...common])
  assert.equal(r.json.error.code, 'POLICY_INVALID')
  assert.match(r.json.error.message, /cty/)
  assert.match(r.json.error.details.join('\n'), /user_id, email, city, amount/)
  r = w3a(['dataset', 'policy', datasetId, '--k', '5', '--epsilon-budget', '2', '--dimensions', 'city', '--measures', 'amount:0:1000', ...common])
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual([r.json.policy.allowExact, r.json.policy.bounds, r.json.policy.defaultEpsilon], [false, { amount: [0, 1000] }, 0.1])

  r = w3a(listArgs)
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.json.status, 'active')
  assert.match(r.json.listTx, /^0x[0-9a-f]{64}$/)
  r = w3a(['market', 'ls', '--gateway', up!.gatewayUrl, '--json'])
  assert.deepEqual(r.json.datasets.map((d: { id: string; price: { formatted: string } }) => [d.id, d.price.formatted]), [[datasetId, '2.5']])

  r = w3a(['dataset', 'access', datasetId, ...common])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.json.policy.k, 5)
  assert.deepEqual(r.json.grants.map((g: { grantee: string; usesLeft: number }) => [g.grantee.toLowerCase(), g.usesLeft]), [[analyst.toLowerCase(), 3]])

  // Someone else cannot read the owner's confidential view.
  r = w3a(['dataset', 'access', datasetId, '--account', '1', '--gateway', up!.gatewayUrl, '--json'])
  assert.notEqual(r.code, 0)
  assert.equal(r.json.error.code, 'ACCESS_DENIED')

  r = w3a(['dataset', 'revoke', datasetId, analyst, ...common])
  assert.equal(r.code, 0, r.stderr)

  // The blocks the storage node serves before the delete: the manifest and a segment.
  const manifestCid: string = w3a(['dataset', 'show', datasetId, '--gateway', up!.gatewayUrl, '--json']).json.dataset.manifestCid
  const segmentCid: string = w3a(['dataset', 'show', datasetId, '--gateway', up!.gatewayUrl, '--json']).json.manifest.segments[0].cid
  for (const cid of [manifestCid, segmentCid]) assert.equal(await statusOf(`${up!.gatewayUrl}/ipfs/${cid}?format=raw`), 200)

  // No terminal to answer the question, no --yes: refused, nothing sent.
  const nonce0 = await nonceOfAccount0()
  r = w3a(['dataset', 'delete', datasetId, ...common])
  assert.notEqual(r.code, 0)
  assert.equal(r.json.error.code, 'CONFIRMATION_REQUIRED')
  assert.match(r.json.error.details.join(' '), /--yes/)
  assert.equal(await nonceOfAccount0(), nonce0)
  assert.equal(w3a(['dataset', 'show', datasetId, '--gateway', up!.gatewayUrl, '--json']).json.dataset.status, 'active')

  r = w3a(['dataset', 'delete', datasetId, '--yes', ...common])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.json.alreadyDeleted, false)
  assert.equal(r.json.receipt.status, 'applied')
  assert.ok(r.json.receipt.unrecoverableAfterEpoch !== undefined, 'the deletion receipt names the epoch')
  // 3 segments of 20 rows (one block each, at least) and the manifest left the storage node.
  assert.equal(r.json.storage.nodes.length, 1)
  assert.ok(r.json.storage.blocks >= 4, `dropped ${r.json.storage.blocks} blocks`)
  assert.ok(r.json.storage.bytes > 0)
  for (const cid of [manifestCid, segmentCid]) assert.equal(await statusOf(`${up!.gatewayUrl}/ipfs/${cid}?format=raw`), 404, `${cid} is gone`)

  // Again: already deleted, no transaction (the owner's nonce does not move), exit 0.
  const nonce1 = await nonceOfAccount0()
  r = w3a(['dataset', 'delete', datasetId, '--account', '0', '--gateway', up!.gatewayUrl])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /already deleted: no deletion sent/)
  assert.match(r.stdout, /storage: dropped 0 block\(s\)/)
  r = w3a(['dataset', 'delete', datasetId, ...common])
  assert.equal(r.json.alreadyDeleted, true)
  assert.equal(await nonceOfAccount0(), nonce1)

  r = w3a(['dataset', 'show', datasetId, '--gateway', up!.gatewayUrl, '--json'])
  assert.equal(r.json.dataset.status, 'deleted')
  r = w3a(['dataset', 'grant', datasetId, analyst, ...common])
  assert.notEqual(r.code, 0)
  assert.equal(r.json.error.code, 'COMMAND_REFUSED')
  assert.match(r.json.error.message, /dataset-deleted/)
})

test('every command has --help', () => {
  for (const cmd of [['up'], ['status'], ['dataset', 'upload'], ['dataset', 'ls'], ['dataset', 'show'], ['dataset', 'download'], ['dataset', 'grant'], ['dataset', 'revoke'], ['dataset', 'delete'], ['dataset', 'policy'], ['market', 'list'], ['dataset', 'access'], ['worker'], ['workers', 'ls'], ['attest', 'verify']]) {
    const r = w3a([...cmd, '--help'])
    assert.equal(r.code, 0, cmd.join(' '))
    assert.match(r.stdout, /Usage: w3a/)
    assert.match(r.stdout, /--json/)
  }
})
