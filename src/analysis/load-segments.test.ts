import assert from 'node:assert/strict'
import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import type { CID } from 'multiformats/cid'
import { isW3aError } from '../core/errors.js'
import { encryptSegmentStream, envelopeCiphertextSize, generateDatasetKey } from '../crypto/envelope.js'
import { withSandboxedDuckDb, sqlString } from '../storage/duckdb-sandbox.js'
import { createMemoryBlockstore, exportCar, importBytes, writeParquetSegments, type Blockstore, type DatasetManifest } from '../storage/index.js'
import { loadSegments } from './load-segments.js'
import { createMemoryFiles } from './memory-files.js'

const datasetId: `0x${string}` = `0x${'ab'.repeat(32)}`
/** Small envelope chunks, so a segment spans many chunks and several UnixFS leaves. */
const CHUNK_SIZE = 64 * 1024

let work: string
let blocks: Blockstore
let dek: Uint8Array
let manifest: Pick<DatasetManifest, 'datasetId' | 'segments'>
let expected: unknown[][]

const TABLE_SQL = `SELECT i AS id, md5(i::VARCHAR) || md5((i * 7)::VARCHAR) AS token, (i % 13)::INTEGER AS bucket, i / 3.0 AS amount FROM range(60000) t(i)`

async function readRows(files: string[]): Promise<unknown[][]> {
  return withSandboxedDuckDb({ files }, async (c) => (await c.runAndReadAll(`SELECT * FROM read_parquet([${files.map(sqlString).join(', ')}])`)).getRows())
}

/** The upload path: Parquet segments, each sealed with encryptSegmentStream and imported as UnixFS. */
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'w3a-load-segments-test-'))
  const source = join(work, 'table.parquet')
  await withSandboxedDuckDb({ dirs: [work] }, async (c) => {
    await c.run(`COPY (${TABLE_SQL}) TO ${sqlString(source)} (FORMAT parquet)`)
  })
  expected = await readRows([source])
  const plainDir = join(work, 'plain')
  await mkdir(plainDir)
  const written = await writeParquetSegments(source, { outDir: plainDir, rowsPerSegment: 20_000 })
  blocks = createMemoryBlockstore()
  dek = generateDatasetKey()
  const segments: DatasetManifest['segments'] = []
  for (const [segmentIndex, seg] of written.segments.entries()) {
    const { size: fileSize } = await stat(seg.path)
    const imported = await importBytes(blocks, encryptSegmentStream({ key: dek, chunkSize: CHUNK_SIZE, context: { datasetId, segmentIndex } }, createReadStream(seg.path)))
    assert.equal(imported.size, envelopeCiphertextSize(fileSize, CHUNK_SIZE))
    segments.push({ cid: imported.cid, rows: seg.rows, size: imported.size })
  }
  assert.equal(segments.length, 3)
  assert.ok(segments.every((s) => s.size > 2 * 256 * 1024), 'each segment spans several UnixFS leaves')
  manifest = { datasetId, segments }
})

after(async () => {
  await rm(work, { recursive: true, force: true })
})

async function freshDir(): Promise<string> {
  return mkdtemp(join(work, 'out-'))
}

async function carBytes(cid: CID): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of exportCar(blocks, cid)) parts.push(p)
  return Buffer.concat(parts)
}

/** A gateway stream: the CAR in small pieces, as HTTP delivers it. */
async function* pieces(bytes: Uint8Array, size = 16 * 1024): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < bytes.length; o += size) yield bytes.subarray(o, o + size)
}

const honest = (cid: CID) => exportCar(blocks, cid)

test('round trip: the loaded files hold the uploaded rows, in manifest order, mode 0600', async () => {
  const dir = await freshDir()
  const progress: number[] = []
  const r = await loadSegments({ manifest, dek, fetchCar: honest, dir, onProgress: (p) => progress.push(p.done) })
  assert.deepEqual(r.files, [0, 1, 2].map((i) => join(dir, `segment-${i}.parquet`)))
  assert.deepEqual(await readRows(r.files), expected)
  let size = 0
  for (const f of r.files) {
    const s = await stat(f)
    assert.equal(s.mode & 0o777, 0o600, f)
    size += s.size
  }
  assert.equal(r.bytes, size)
  assert.deepEqual(progress, [1, 2, 3])
})

test('memory target: DuckDB reads the rows from anonymous memory files; no file appears in any directory', async () => {
  const shmBefore = await readdir('/dev/shm')
  const workBefore = await readdir(work)
  const memory = createMemoryFiles()
  const r = await loadSegments({ manifest, dek, fetchCar: honest, memory })
  try {
    assert.equal(r.files.length, 3)
    for (const f of r.files) assert.match(f, /^\/proc\/self\/fd\/\d+$/)
    assert.deepEqual(await readRows(r.files), expected)
    // Named by descriptor only: no directory entry anywhere, in /dev/shm or the work dir.
    assert.deepEqual(await readdir('/dev/shm'), shmBefore)
    assert.deepEqual(await readdir(work), workBefore)
  } finally {
    await memory.close()
  }
})

test('memory files are refused on a disk: the plaintext would outlive the job', () => {
  assert.throws(() => createMemoryFiles(work), (e) => isW3aError(e, 'PLAINTEXT_MEMORY_UNAVAILABLE'))
})

test('order: later segments finishing first still give manifest order; any concurrency gives the same files', async () => {
  const order = manifest.segments.map((s) => s.cid.toString())
  // Segment 0 is the slowest to arrive.
  const slowFirst = async (cid: CID) => {
    const bytes = await carBytes(cid)
    await new Promise((res) => setTimeout(res, (order.length - order.indexOf(cid.toString())) * 40))
    return pieces(bytes)
  }
  for (const concurrency of [1, 2, 8]) {
    const dir = await freshDir()
    const r = await loadSegments({ manifest, dek, fetchCar: slowFirst, dir, concurrency })
    assert.deepEqual(r.files, [0, 1, 2].map((i) => join(dir, `segment-${i}.parquet`)))
    assert.deepEqual(await readRows(r.files), expected, `concurrency ${concurrency}`)
  }
})

test('a tampered block → BLOCK_HASH_MISMATCH naming the segment, and no file is left', async () => {
  const bad = 1
  const tampering = async (cid: CID) => {
    const bytes = await carBytes(cid)
    if (cid.equals(manifest.segments[bad]!.cid)) bytes[bytes.length >> 1]! ^= 0x01
    return pieces(bytes)
  }
  for (const concurrency of [1, 4]) {
    const dir = await freshDir()
    await assert.rejects(loadSegments({ manifest, dek, fetchCar: tampering, dir, concurrency }), (e) => {
      assert.ok(isW3aError(e, 'BLOCK_HASH_MISMATCH'), String(e))
      assert.match(e.shortMessage, new RegExp(`^Segment ${bad} \\(${manifest.segments[bad]!.cid}\\)`))
      return true
    })
    assert.deepEqual(await readdir(dir), [], `concurrency ${concurrency}: segment 0 was written and then removed`)
  }
})

test('a wrong DEK → ENVELOPE_AUTH_FAILED, and no file is left', async () => {
  const dir = await freshDir()
  await assert.rejects(loadSegments({ manifest, dek: generateDatasetKey(), fetchCar: honest, dir }), (e) => isW3aError(e, 'ENVELOPE_AUTH_FAILED') && /^Segment \d/.test(e.shortMessage))
  assert.deepEqual(await readdir(dir), [])
})

test('segments bound to their position: swapping two CIDs in the manifest fails authentication', async () => {
  const dir = await freshDir()
  const [a, b, c] = manifest.segments
  const swapped = { datasetId, segments: [b!, a!, c!] }
  await assert.rejects(loadSegments({ manifest: swapped, dek, fetchCar: honest, dir, concurrency: 1 }), (e) => isW3aError(e, 'ENVELOPE_AUTH_FAILED') && /^Segment 0 /.test(e.shortMessage))
  assert.deepEqual(await readdir(dir), [])
})

test('a CAR for another CID → CAR_MALFORMED naming the segment, and no file is left', async () => {
  const dir = await freshDir()
  const other = manifest.segments[0]!.cid
  const wrongRoot = (cid: CID) => (cid.equals(manifest.segments[2]!.cid) ? exportCar(blocks, other) : exportCar(blocks, cid))
  await assert.rejects(loadSegments({ manifest, dek, fetchCar: wrongRoot, dir }), (e) => isW3aError(e, 'CAR_MALFORMED') && /^Segment 2 /.test(e.shortMessage))
  assert.deepEqual(await readdir(dir), [])
})

test('a failing fetch keeps its code; an existing output file is neither overwritten nor removed', async () => {
  const { W3aError } = await import('../core/errors.js')
  let dir = await freshDir()
  const down = async (cid: CID) => {
    if (cid.equals(manifest.segments[1]!.cid)) throw new W3aError('GATEWAY_ERROR', 'GET failed: HTTP 502')
    return exportCar(blocks, cid)
  }
  await assert.rejects(loadSegments({ manifest, dek, fetchCar: down, dir, concurrency: 1 }), (e) => isW3aError(e, 'GATEWAY_ERROR') && /^Segment 1 /.test(e.shortMessage))
  assert.deepEqual(await readdir(dir), [])

  dir = await freshDir()
  const { writeFile, readFile } = await import('node:fs/promises')
  await writeFile(join(dir, 'segment-2.parquet'), 'keep me')
  await assert.rejects(loadSegments({ manifest, dek, fetchCar: honest, dir }), (e) => isW3aError(e, 'INVALID_ARGUMENT') && /^Segment 2 /.test(e.shortMessage))
  assert.deepEqual(await readdir(dir), ['segment-2.parquet'])
  assert.equal(await readFile(join(dir, 'segment-2.parquet'), 'utf8'), 'keep me')
})
