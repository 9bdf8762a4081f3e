import assert from 'node:assert/strict'
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { encryptSegmentStream, generateDatasetKey } from '../crypto/envelope.js'
import { sqlString, withSandboxedDuckDb } from '../storage/duckdb-sandbox.js'
import { createMemoryBlockstore, exportCar, importBytes, type Blockstore, type DatasetManifest } from '../storage/index.js'
import { isW3aError } from '../core/errors.js'
import { createJobDataCache, openJobData } from './job-data.js'

const datasetId: `0x${string}` = `0x${'cd'.repeat(32)}`
let work: string
let blocks: Blockstore
let dek: Uint8Array
let manifest: Pick<DatasetManifest, 'datasetId' | 'segments'>
let plain: Uint8Array
let fetches = 0

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'w3a-job-data-test-'))
  const file = join(work, 'segment.parquet')
  await withSandboxedDuckDb({ dirs: [work] }, (c) => c.run(`COPY (SELECT range AS id, 'cell' || range AS token FROM range(5000)) TO ${sqlString(file)} (FORMAT parquet)`))
  plain = await readFile(file)
  blocks = createMemoryBlockstore()
  dek = generateDatasetKey()
  const imported = await importBytes(blocks, encryptSegmentStream({ key: dek, context: { datasetId, segmentIndex: 0 } }, (async function* () { yield plain })()))
  manifest = { datasetId, segments: [{ cid: imported.cid, rows: 5000, size: imported.size }] }
})

after(async () => {
  await rm(work, { recursive: true, force: true })
})

const params = (key = dek) => ({
  manifestCid: 'bafy-manifest',
  manifest,
  dek: key,
  fetchCar: (cid: Parameters<typeof exportCar>[1]) => {
    fetches++
    return exportCar(blocks, cid)
  },
})

test('openJobData: the plaintext segment, in memory, gone after release', async () => {
  const data = await openJobData(params())
  assert.equal(data.cached, false)
  assert.deepEqual(new Uint8Array(await readFile(data.files[0]!)), new Uint8Array(plain))
  assert.equal(await data.intact(), true)
  await data.release()
})

test('cache: a later job with the same released key reuses the segments; another key, a write, a delete, an epoch change or the idle limit do not', async () => {
  let clock = 0
  const cache = createJobDataCache({ idleMs: 1000, now: () => clock })
  const first = await cache.open(params())
  await first.release()
  fetches = 0
  const again = await cache.open(params())
  assert.equal(again.cached, true)
  assert.equal(fetches, 0)
  assert.deepEqual(again.files, first.files)
  await again.release()

  // Another key (not this dataset's release): decrypted anew (and fails: the data is not under that key).
  await assert.rejects(cache.open(params(generateDatasetKey())))
  const reopened = await cache.open(params())
  assert.equal(reopened.cached, false)

  // SQL past the checker wrote into a kept file: it is never reused.
  await appendFile(reopened.files[0]!, 'x')
  await reopened.release()
  const afterWrite = await cache.open(params())
  assert.equal(afterWrite.cached, false)
  await afterWrite.release()

  assert.deepEqual(cache.datasets(), [datasetId])
  await cache.dropDataset(datasetId.toUpperCase().replace('0X', '0x'))
  assert.deepEqual(cache.datasets(), [])
  await (await cache.open(params())).release()
  await cache.clear()
  const afterEpoch = await cache.open(params())
  assert.equal(afterEpoch.cached, false)
  await afterEpoch.release()

  clock += 1001
  const idle = await cache.open(params())
  assert.equal(idle.cached, false)
  await idle.release()
  await cache.clear()
})

test('cache: a dataset dropped while a job holds it stays readable for that job, then is freed', async () => {
  const cache = createJobDataCache()
  const held = await cache.open(params())
  await cache.dropDataset(datasetId)
  assert.deepEqual(new Uint8Array(await readFile(held.files[0]!)), new Uint8Array(plain))
  await held.release()
  const next = await cache.open(params())
  assert.equal(next.cached, false)
  await next.release()
  await cache.clear()
})

/** This process's descriptors on anonymous memory files (memory-files.ts). */
async function memoryFds(): Promise<number> {
  const { readdir, readlink } = await import('node:fs/promises')
  let n = 0
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '')
    if (target.startsWith('/dev/shm/#')) n++
  }
  return n
}

test('openJobData streams the CAR, yet a tampered block still fails the job (BLOCK_HASH_MISMATCH) and frees every memory file', async () => {
  const { randomBytes } = await import('node:crypto')
  const collect = async (source: AsyncIterable<Uint8Array>) => {
    const parts: Uint8Array[] = []
    for await (const p of source) parts.push(p)
    return parts
  }
  // A segment of several UnixFS leaves and envelope chunks.
  const big = new Uint8Array(randomBytes(1024 * 1024 + 77))
  const imported = await importBytes(blocks, encryptSegmentStream({ key: dek, chunkSize: 64 * 1024, context: { datasetId, segmentIndex: 0 } }, (async function* () { yield big })()))
  const bigManifest = { datasetId, segments: [{ cid: imported.cid, rows: 1, size: imported.size }] }
  const car = Buffer.concat(await collect(exportCar(blocks, imported.cid)))
  const job = (bytes: Uint8Array) => ({ ...params(), manifestCid: 'bafy-big', manifest: bigManifest, fetchCar: () => (async function* () { yield bytes })() })
  const honest = await openJobData(job(car))
  assert.deepEqual(new Uint8Array(await readFile(honest.files[0]!)), big)
  await honest.release()

  // A byte flipped in the last leaf, after earlier chunks were decrypted: the job fails all the same.
  const tampered = Uint8Array.from(car)
  tampered[tampered.length - 10]! ^= 1
  const before = await memoryFds()
  await assert.rejects(openJobData(job(tampered)), (e) => isW3aError(e, 'BLOCK_HASH_MISMATCH') && /^Segment 0 /.test(e.shortMessage))
  assert.equal(await memoryFds(), before, 'no memory file of the failed job is left')
  // The same through the cache: nothing kept, and the next honest job decrypts afresh.
  const cache = createJobDataCache()
  await assert.rejects(cache.open(job(tampered)), (e) => isW3aError(e, 'BLOCK_HASH_MISMATCH'))
  assert.deepEqual(cache.datasets(), [])
  const again = await cache.open(job(car))
  assert.equal(again.cached, false)
  assert.deepEqual(new Uint8Array(await readFile(again.files[0]!)), big)
  await again.release()
  await cache.clear()
  assert.equal(await memoryFds(), before)
})
