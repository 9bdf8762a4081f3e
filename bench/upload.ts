/**
 * Upload on the path `w3a dataset upload` runs vs. the same path with only the encryption step
 * left out, same devnet, same run. Prints figures only (benchmarks never assert); the last line
 * is the judged ratio.
 *
 * Setup (not timed): DuckDB generates W3A_BENCH_ROWS rows (default 3,000,000: user_id, city,
 * device, amount, and a 32-hex-digit token that Parquet cannot compress away) into a Parquet file;
 * `startDevnet` in a temp dir (Anvil, the contracts, the gateway and its storage in this process,
 * one keeper + compute worker with a simulated TEE).
 *
 * Timed, per round:
 *   encrypted : the SDK's uploadDataset (dev account 1), from its first 'encrypt' progress to the
 *               'upload' progress after the last segment: per segment, read in 1 MiB pieces,
 *               encryptSegmentStream, UnixFS leaves in the in-memory blockstore, one CAR POSTed to
 *               the gateway, checked and imported into its blockstore there (sendSegments, which
 *               seals segment N+1 while segment N's CAR is sent). The
 *               Parquet cutting before and the manifest, chain registration and custody after are
 *               printed, not judged: they do not depend on encryption.
 *   plain     : the same sendSegments over the same Parquet segments (writeParquetSegments with the
 *               same rows per segment, not timed) with the seal step the identity.
 * Best of W3A_BENCH_ROUNDS (default 2) each, in alternating order.
 * Same answer: the owner downloads the encrypted dataset (downloadDataset: fetch, verify, decrypt)
 * and the plain segments are read back from the gateway; row count and an order-independent hash of
 * every row must equal the source file's on both sides, else the bench exits non-zero.
 *
 *   npm run bench:upload
 *   W3A_BENCH_ROWS=1000000 W3A_BENCH_SEGMENT_ROWS=250000 npm run bench:upload
 */
import { mkdir, stat, writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import type { CID } from 'multiformats/cid'
import { devAccount } from '../src/chain/index.js'
import { benchWorkdir } from './bench-workdir.js'
import { createW3aClient, downloadDataset, uploadDataset, type UploadProgress } from '../src/sdk/index.js'
import { sendSegments } from '../src/sdk/send-segment.js'
import { sqlString } from '../src/storage/duckdb-sandbox.js'
import { createMemoryBlockstore, exportBytes, importCar, writeParquetSegments } from '../src/storage/index.js'
import { DEFAULT_CHUNK_SIZE, encryptSegmentStream, generateDatasetKey } from '../src/crypto/envelope.js'

const ROWS = Number(process.env.W3A_BENCH_ROWS ?? 3_000_000)
const SEGMENT_ROWS = Number(process.env.W3A_BENCH_SEGMENT_ROWS ?? 1_000_000) // uploadDataset's default
const ROUNDS = Number(process.env.W3A_BENCH_ROUNDS ?? 2)
const VERBOSE = Boolean(process.env.W3A_BENCH_VERBOSE)

const bench = await benchWorkdir('w3a-bench-upload-')
const work = bench.dir
const cleanup = bench.cleanup

const db = await DuckDBInstance.create(':memory:')
const conn = await db.connect()
/** Row count and an order-independent hash of every row of a Parquet file (or files). */
async function fingerprint(files: string[]): Promise<{ rows: number; hash: string }> {
  const list = `[${files.map(sqlString).join(', ')}]`
  const r = (await conn.runAndReadAll(`SELECT count(*)::BIGINT, sum(hash(user_id, city, device, amount, token))::HUGEINT FROM read_parquet(${list})`)).getRows()[0]!
  return { rows: Number(r[0]), hash: String(r[1]) }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`
let failed = false

try {
  const file = join(work, 'visits.parquet')
  await conn.run(`COPY (
    SELECT (hash(i) % ${Math.max(1, Math.round(ROWS / 10))})::BIGINT AS user_id,
           'City' || lpad((hash(i || 'c') % 20)::VARCHAR, 2, '0') AS city,
           ['mobile', 'desktop', 'tablet', 'tv'][1 + (hash(i || 'd') % 4)::INTEGER] AS device,
           round((hash(i || 'a') % 1000000) / 100.0, 2)::DOUBLE AS amount,
           md5(i::VARCHAR) AS token
    FROM range(${ROWS}) t(i)) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd)`)
  const source = await fingerprint([file])

  const devnet = await bench.startDevnet({ port: 0, log: (line) => VERBOSE && console.log(`  [devnet] ${line}`) })
  const owner = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: devAccount(1) })

  // The plain side's segments: the same cut uploadDataset makes, kept for every round.
  const plainDir = join(work, 'plain-segments')
  await mkdir(plainDir)
  const written = await writeParquetSegments(file, { outDir: plainDir, rowsPerSegment: SEGMENT_ROWS })
  const plainBytes = (await Promise.all(written.segments.map((s) => stat(s.path)))).reduce((n, s) => n + s.size, 0)
  console.log(
    `upload: ${ROWS.toLocaleString('en')} rows, Parquet ${(plainBytes / 1e6).toFixed(1)} MB in ${written.segments.length} segment(s) of ${SEGMENT_ROWS.toLocaleString('en')} rows, ` +
      `to the devnet's gateway (its storage in this process), best of ${ROUNDS}, node ${process.version}, load average ${loadavg()[0]!.toFixed(1)}`,
  )

  type Encrypted = { ms: number; cutMs: number; afterMs: number; id: `0x${string}` }
  const encrypted = async (): Promise<Encrypted> => {
    const marks: { start?: number; encrypt?: number; sent?: number } = {}
    let segments = Infinity
    const t0 = performance.now()
    const up = await uploadDataset(owner, {
      file,
      name: 'bench-upload',
      privacyUnit: 'user_id',
      rowsPerSegment: SEGMENT_ROWS,
      onProgress: (p: UploadProgress) => {
        if (p.stage === 'encrypt' && marks.encrypt === undefined) {
          marks.encrypt = performance.now()
          segments = p.total
        }
        if (p.stage === 'upload' && p.done === segments) marks.sent = performance.now()
      },
    })
    const t1 = performance.now()
    if (marks.encrypt === undefined || marks.sent === undefined) throw new Error('uploadDataset reported no encrypt/upload progress')
    return { ms: marks.sent - marks.encrypt, cutMs: marks.encrypt - t0, afterMs: t1 - marks.sent, id: up.id }
  }
  const plain = async (): Promise<{ ms: number; cids: CID[] }> => {
    const t0 = performance.now()
    const sent = await sendSegments(owner, { paths: written.segments.map((s) => s.path), seal: (pieces) => pieces })
    return { ms: performance.now() - t0, cids: sent.map((s) => s.cid) }
  }

  /** Diagnostic (printed, not judged): uploadDataset's loop body alone, the encrypt seal over the plain side's segments. */
  const dek = generateDatasetKey()
  const sealedOnly = async (): Promise<number> => {
    const t0 = performance.now()
    await sendSegments(owner, {
      paths: written.segments.map((s) => s.path),
      seal: (pieces, segmentIndex) => encryptSegmentStream({ key: dek, chunkSize: DEFAULT_CHUNK_SIZE, context: { datasetId: `0x${'ab'.repeat(32)}`, segmentIndex } }, pieces),
    })
    return performance.now() - t0
  }
  let bestSealedOnly = Infinity

  let bestEnc: Encrypted | undefined
  let bestPlain: Awaited<ReturnType<typeof plain>> | undefined
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? (['encrypted', 'plain'] as const) : (['plain', 'encrypted'] as const)
    for (const side of order) {
      if (side === 'encrypted') {
        const e = await encrypted()
        if (!bestEnc || e.ms < bestEnc.ms) bestEnc = e
        console.log(`  round ${r + 1} encrypted ${seconds(e.ms).padStart(8)}  (${(plainBytes / 1e3 / e.ms).toFixed(0)} MB/s; cut into Parquet before ${seconds(e.cutMs)}, manifest + chain + custody after ${seconds(e.afterMs)})`)
      } else {
        const p = await plain()
        if (!bestPlain || p.ms < bestPlain.ms) bestPlain = p
        console.log(`  round ${r + 1} plain     ${seconds(p.ms).padStart(8)}  (${(plainBytes / 1e3 / p.ms).toFixed(0)} MB/s)`)
        const d = await sealedOnly()
        bestSealedOnly = Math.min(bestSealedOnly, d)
        console.log(`  round ${r + 1} (sendSegments + encryptSegmentStream alone, not judged) ${seconds(d)}`)
      }
    }
  }

  // ---- read-back: both sides must hold the source's rows ----
  const back = join(work, 'back')
  await mkdir(back)
  const encOut = join(back, 'encrypted.parquet')
  await downloadDataset(owner, { id: bestEnc!.id, out: encOut })
  const plainFiles: string[] = []
  for (const [i, cid] of bestPlain!.cids.entries()) {
    const blocks = createMemoryBlockstore()
    await importCar(blocks, await owner.gateway.getStream(`/ipfs/${cid.toString()}?format=car`, 'application/vnd.ipld.car'))
    const parts: Uint8Array[] = []
    for await (const part of exportBytes(blocks, cid)) parts.push(part)
    const path = join(back, `plain-${i}.parquet`)
    await writeFile(path, Buffer.concat(parts))
    plainFiles.push(path)
  }
  const encBack = await fingerprint([encOut])
  const plainBack = await fingerprint(plainFiles)
  console.log(`  read back: source ${source.rows} rows; encrypted (downloadDataset) ${encBack.rows}; plain (from the gateway) ${plainBack.rows}; row hashes ${encBack.hash === source.hash && plainBack.hash === source.hash ? 'equal' : 'DIFFER'}`)
  if (encBack.rows !== source.rows || plainBack.rows !== source.rows || encBack.hash !== source.hash || plainBack.hash !== source.hash) {
    console.error('bench:upload: a side does not read back the source rows')
    failed = true
  }
  console.log(`encrypt + CAR + gateway import (uploadDataset): ${(plainBytes / 1e3 / bestEnc!.ms).toFixed(0)} MB/s of plaintext Parquet (${seconds(bestEnc!.ms)})`)
  console.log(`the same without encryption (sendSegments, identity seal): ${(plainBytes / 1e3 / bestPlain!.ms).toFixed(0)} MB/s (${seconds(bestPlain!.ms)})`)
  console.log(`ratio (encrypted upload / plain upload): ${(bestPlain!.ms / bestEnc!.ms).toFixed(2)} (target >= 0.7)`)
} finally {
  conn.closeSync()
  db.closeSync()
  await cleanup()
}
if (failed) process.exit(1)
