/**
 * Block uploads on a real devnet (`startDevnet`, a small per-account quota): only an
 * account's signature over the CAR's root, length, chain and expiry lets a CAR in; a funded
 * account is charged its bytes; a CAR that does not import whole leaves nothing stored and
 * charges nothing; the SDK signs by itself and stops at the quota with UPLOAD_QUOTA_EXCEEDED.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as dagJson from '@ipld/dag-json'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import type { LocalAccount } from 'viem'
import { startDevnet, type RunningDevnet } from '../src/node/up.js'
import { devAccount } from '../src/chain/index.js'
import { carOfBlock } from '../src/storage/car-of-block.js'
import { signUpload } from '../src/storage/upload-authorization.js'
import { createW3aClient, uploadDataset } from '../src/sdk/index.js'
import { isW3aError } from '../src/core/errors.js'

const work = mkdtempSync(join(tmpdir(), 'w3a-uploads-'))
const QUOTA = 1024 * 1024
const uploader = devAccount(3)
let devnet: RunningDevnet

type Answer = { status: number; body: { error?: { code: string; message: string; details: string[] }; blocks?: number } }

async function post(car: Uint8Array, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(`${devnet.gatewayUrl}/api/v1/blocks`, { method: 'POST', headers: { ...headers, 'content-type': 'application/vnd.ipld.car' }, body: car as BodyInit })
  return { status: res.status, body: (await res.json()) as Answer['body'] }
}

async function stored(cid: CID): Promise<boolean> {
  const res = await fetch(`${devnet.gatewayUrl}/ipfs/${cid}?format=raw`, { headers: { accept: 'application/vnd.ipld.raw' } })
  await res.arrayBuffer()
  return res.ok
}

async function rawCar(size: number): Promise<{ cid: CID; car: Uint8Array }> {
  return carOfBlock(randomBytes(size), raw.code)
}

async function signed(account: LocalAccount, cid: CID, bytes: number, chainId = devnet.chainId, now?: number) {
  return signUpload({ account, root: cid.toString(), bytes, chainId, ...(now !== undefined ? { now } : {}) })
}

before(async () => {
  devnet = await startDevnet({ dataDir: join(work, 'devnet'), port: 0, uploadQuotaBytes: QUOTA })
})

after(async () => {
  await devnet?.stop()
  rmSync(work, { recursive: true, force: true })
})

test('an unsigned, expired, foreign-chain, unfunded or replayed upload is refused (401 UPLOAD_UNAUTHORIZED), nothing stored', async () => {
  const { cid, car } = await rawCar(1000)
  const refused = async (headers: Record<string, string>, why: RegExp, storedBefore = false) => {
    const r = await post(car, headers)
    assert.equal(r.status, 401, JSON.stringify(r.body))
    assert.equal(r.body.error?.code, 'UPLOAD_UNAUTHORIZED')
    assert.match(r.body.error!.message, why)
    assert.equal(await stored(cid), storedBefore)
  }
  await refused({}, /needs an account's signature/)
  await refused(await signed(uploader, cid, car.length, devnet.chainId, Date.now() - 3_600_000), /expired/)
  // Signed for chain 1: on this chain it recovers to some other, unfunded account.
  await refused(await signed(uploader, cid, car.length, 1), /holds no funds/)
  await refused(await signed(privateKeyToAccount(generatePrivateKey()), cid, car.length), /holds no funds/)

  const headers = await signed(uploader, cid, car.length)
  const ok = await post(car, headers)
  assert.equal(ok.status, 200, JSON.stringify(ok.body))
  assert.equal(await stored(cid), true)
  // A captured signature cannot be replayed (to burn its signer's quota).
  await refused(headers, /already used/, true)
})

test('a CAR that does not import whole is not stored and not charged (422 UPLOAD_NOT_STORED)', async () => {
  // An altered block: its bytes no longer hash to its CID.
  const good = await rawCar(2000)
  const altered = good.car.slice()
  altered[altered.length - 1]! ^= 1
  let r = await post(altered, await signed(uploader, good.cid, altered.length))
  assert.equal(r.status, 422)
  assert.equal(r.body.error?.code, 'UPLOAD_NOT_STORED')
  assert.ok(r.body.error!.details.includes('cause: BLOCK_HASH_MISMATCH'), JSON.stringify(r.body))
  assert.equal(await stored(good.cid), false)

  // A DAG whose root links to a block that nobody stored.
  const missing = CID.createV1(raw.code, await sha256.digest(randomBytes(32)))
  const root = await carOfBlock(dagJson.encode({ segment: missing }))
  r = await post(root.car, await signed(uploader, root.cid, root.car.length))
  assert.equal(r.body.error?.code, 'UPLOAD_NOT_STORED')
  assert.ok(r.body.error!.details.includes('cause: CAR_MALFORMED'), JSON.stringify(r.body))
  assert.equal(await stored(root.cid), false)

  // Shorter than signed (a cut CAR).
  const cut = await rawCar(3000)
  r = await post(cut.car.slice(0, cut.car.length - 100), await signed(uploader, cut.cid, cut.car.length))
  assert.equal(r.body.error?.code, 'UPLOAD_NOT_STORED')
  assert.equal(await stored(cut.cid), false)

  // Another root than the signed one.
  const other = await rawCar(500)
  r = await post(other.car, await signed(uploader, good.cid, other.car.length))
  assert.equal(r.body.error?.code, 'UPLOAD_NOT_STORED')
  assert.equal(await stored(other.cid), false)

  // Longer than signed: refused while reading.
  const long = await rawCar(4000)
  r = await post(long.car, await signed(uploader, long.cid, long.car.length - 1000))
  assert.equal(r.status, 413)
  assert.equal(r.body.error?.code, 'BODY_TOO_LARGE')
  assert.equal(await stored(long.cid), false)
})

test('the quota: what fits is stored, the upload over it is refused (429 UPLOAD_QUOTA_EXCEEDED) before its body is read', async () => {
  // The refusals above charged nothing: this account's whole quota, less what it stored (about 1 KB), is left.
  const big = await rawCar(QUOTA - 16 * 1024)
  const ok = await post(big.car, await signed(uploader, big.cid, big.car.length))
  assert.equal(ok.status, 200, JSON.stringify(ok.body))
  const over = await rawCar(100 * 1024)
  const r = await post(over.car, await signed(uploader, over.cid, over.car.length))
  assert.equal(r.status, 429)
  assert.equal(r.body.error?.code, 'UPLOAD_QUOTA_EXCEEDED')
  assert.match(r.body.error!.message, new RegExp(`over its quota of ${QUOTA}`))
  assert.equal(await stored(over.cid), false)
  // Another account has its own quota.
  const r2 = await post(over.car, await signed(devAccount(4), over.cid, over.car.length))
  assert.equal(r2.status, 200, JSON.stringify(r2.body))
})

test('the SDK signs its uploads itself, and reports the quota with its code', async () => {
  const csv = join(work, 'rows.csv')
  writeFileSync(csv, ['user,score', ...Array.from({ length: 20 }, (_, i) => `u${i},${i}`)].join('\n') + '\n')
  const fresh = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: devAccount(5) })
  const up = await uploadDataset(fresh, { file: csv, name: 'rows', privacyUnit: 'user' })
  assert.equal(up.rows, 20)
  // The account of the quota test has under 16 KiB left: 40 KiB of random notes stop before anything is registered.
  const notes = join(work, 'notes.csv')
  writeFileSync(notes, ['user,note', ...Array.from({ length: 20 }, (_, i) => `u${i},${randomBytes(1024).toString('hex')}`)].join('\n') + '\n')
  const full = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: uploader })
  await assert.rejects(uploadDataset(full, { file: notes, name: 'notes', privacyUnit: 'user' }), (e) => isW3aError(e, 'UPLOAD_QUOTA_EXCEEDED'))
})
