/**
 * Query path: what an analyst's job costs in the worker over an encrypted dataset, against plain
 * DuckDB running the same checked SQL on the plaintext Parquet, in the same run, over a mix of
 * analyst questions.
 *
 * Setup (not timed): DuckDB generates W3A_BENCH_ROWS rows (default 10,000,000: user_id, the
 * privacy unit, ~1M distinct; country, 50 values; device, 4; zip, 2M values (most zips hold
 * fewer than k users); amount DOUBLE; ts over 2024) into one plaintext Parquet file (zstd). It is
 * cut, sealed and imported as uploadDataset does it (writeParquetSegments, 1M rows a segment →
 * encryptSegmentStream → importBytes) into a blockstore-fs that a child process serves with the
 * real trustless gateway on 127.0.0.1 (the storage node is not the worker).
 *
 * The mix (≥ 8 questions, each as an analyst writes it): count by one dimension; sum and avg
 * with a measure filter; two dimensions; a month bucket (a date_trunc filter: the checker groups by plain columns only); count distinct of a
 * dimension (of the privacy unit: the only distinct count DP allows); a quantile; a DP query with
 * bounds; one whose groups are mostly suppressed. Grouped answers are DP-only (the checker refuses
 * GROUP BY in an exact query), so every question runs under DP, ε = 1, amount bounded 0..10000.
 *
 * Sides, each timed per question:
 *  - worker, cold: a job on a dataset this worker has not opened: fetch the CARs over HTTP (carFetcher, as runJob does), check
 *    every block, decrypt into memory files (openJobData, as runJob does) + runSqlAnalysis
 *    (SQL check, DuckDB, lock-down, the checked query, the gate), then the job's data released.
 *  - worker, warm: the same question in an analyst session of ten jobs on that dataset (the
 *    session's first job opened it; what a later job costs, with whatever the worker keeps).
 *  - plain DuckDB: a fresh in-memory instance with the runner's settings (threads, memory limit,
 *    no extension autoload, no spilling), `data` a view of the plaintext Parquet file, running the
 *    checked SQL the worker runs (with the unit count the gate needs; under DP the DP plan's SQL),
 *    then the same gate; close.
 * Answers must agree (exact outside DP; under DP the same groups and counts, sums within 5%, the DP
 * median within 500 (5% of the bounds' span):
 * which row of a unit the contribution bound keeps is DuckDB's pick); the bench exits non-zero
 * when one does not. Ratios are per question (median of W3A_BENCH_REPS,
 * default 3), then geometric means over the mix: the two judged lines, the warm one last.
 *
 *   npm run bench:query
 *   W3A_BENCH_ROWS=1000000 W3A_BENCH_REPS=3 npm run bench:query
 */
import { spawn } from 'node:child_process'
import { createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'
import { parserOf } from '../src/analysis/duckdb-runner.js'
import { planDpQuery, type Bounds } from '../src/analysis/dp-query.js'
import { keyedRng } from '../src/analysis/keyed-rng.js'
import { gateDp, gateThreshold } from '../src/analysis/privacy-gate.js'
import { runSqlAnalysis } from '../src/analysis/run-analysis.js'
import { checkSql } from '../src/analysis/sql-checker.js'
import { DEFAULT_CHUNK_SIZE, encryptSegmentStream, envelopeCiphertextSize, generateDatasetKey } from '../src/crypto/envelope.js'
import { parsePolicy } from '../src/custody/policy.js'
import { carFetcher } from '../src/enclave/car-fetch.js'
import { createJobDataCache, openJobData } from '../src/enclave/job-data.js'
import { serveHttp } from '../src/node/http-server.js'
import { sqlString } from '../src/storage/duckdb-sandbox.js'
import { createTrustlessGateway, importBytes, openBlockstore, readCarFile, writeParquetSegments, type DatasetManifest } from '../src/storage/index.js'
import { DEFAULT_LOAD_CONCURRENCY } from '../src/analysis/load-segments.js'

type Question = { name: string; sql: string; epsilon?: number; bounds?: Bounds; /** DP answers: numbers may differ by this much as well as by 5%. */ absTolerance?: number }

// Every question groups, and grouped answers are DP-only (sql-checker.ts: "GROUP BY in an exact query"),
// so each runs under DP (ε = 1, amount bounded), as an analyst's job would by default.
const DP = { epsilon: 1, bounds: { amount: [0, 10000] as [number, number] } }
const MIX: Question[] = [
  { name: 'count by country', sql: 'SELECT country, count(*) AS n FROM data GROUP BY country ORDER BY country', ...DP },
  { name: 'sum+avg, amount filter', sql: 'SELECT device, sum(amount) AS total, avg(amount) AS mean FROM data WHERE amount > 2500 GROUP BY device ORDER BY device', ...DP },
  { name: 'two dimensions', sql: 'SELECT country, device, count(*) AS n FROM data GROUP BY country, device ORDER BY country, device', ...DP },
  // The checker groups by plain columns only (sql-checker.ts), so the bucket is a date_trunc filter.
  { name: 'month bucket', sql: "SELECT device, count(*) AS n, sum(amount) AS total FROM data WHERE date_trunc('month', ts) = TIMESTAMP '2024-03-01' GROUP BY device ORDER BY device", ...DP },
  // Under DP only a distinct count of the privacy unit gets noise (sql-checker.ts), not one of a dimension.
  { name: 'count distinct users', sql: 'SELECT device, count(DISTINCT user_id) AS users FROM data GROUP BY device ORDER BY device', ...DP },
  // A DP median is picked among candidates by a noisy score over each unit's kept rows: within 5% of the bounds' span.
  { name: 'quantile', sql: 'SELECT country, quantile_cont(amount, 0.5) AS median FROM data GROUP BY country ORDER BY country', ...DP, absTolerance: 500 },
  { name: 'DP count+sum (ε=1)', sql: 'SELECT device, count(*) AS n, sum(amount) AS total FROM data GROUP BY device ORDER BY device', ...DP },
  { name: 'mostly suppressed', sql: 'SELECT zip, count(*) AS n FROM data GROUP BY zip ORDER BY zip', ...DP },
]

async function main(): Promise<number> {
  const ROWS = Number(process.env.W3A_BENCH_ROWS ?? 10_000_000)
  const REPS = Number(process.env.W3A_BENCH_REPS ?? 3)
  const THREADS = Number(process.env.W3A_BENCH_THREADS ?? 2)
  const MEMORY = process.env.W3A_BENCH_MEMORY ?? '1GB'
  const SESSION = 10
  /** uploadDataset's default segment size. */
  const ROWS_PER_SEGMENT = 1_000_000
  const USERS = Math.max(1, Math.round(ROWS / 10))
  const K = 10
  const datasetId: `0x${string}` = `0x${'5e'.repeat(32)}`
  const policy = parsePolicy({ k: K, columns: { identifiers: ['user_id'], dimensions: ['country', 'device', 'zip', 'ts'], measures: ['amount'] }, bounds: { amount: [0, 10_000] }, allowExact: true })
  const noiseSeed = new Uint8Array(32).fill(7)

  const work = await mkdtemp(join(tmpdir(), 'w3a-bench-query-'))
  let gateway: ReturnType<typeof spawn> | undefined
  try {
    // ---- setup: plaintext Parquet, then the upload path into a blockstore-fs ----
    const plainFile = join(work, 'plain.parquet')
    const gen = await DuckDBInstance.create(':memory:')
    const g = await gen.connect()
    await g.run(`COPY (
      SELECT (hash(i, 1) % ${USERS})::BIGINT AS user_id,
             'C' || lpad((hash(i, 2) % 50)::VARCHAR, 2, '0') AS country,
             ['mobile', 'desktop', 'tablet', 'tv'][1 + (hash(i, 3) % 4)::INTEGER] AS device,
             'Z' || (hash(i, 6) % 2000000)::VARCHAR AS zip,
             round((hash(i, 4) % 1000000) / 100.0, 2)::DOUBLE AS amount,
             TIMESTAMP '2024-01-01' + to_seconds((hash(i, 5) % 31536000)::BIGINT) AS ts
      FROM range(${ROWS}) t(i)) TO ${sqlString(plainFile)} (FORMAT parquet, COMPRESSION zstd)`)
    // The checked SQL each question runs (what the worker runs; checked here once, untimed).
    const parser = parserOf({ query: async (sql, q) => { const r = await g.runAndReadAll(sql, q?.params as never); return { columns: [], rows: r.getRows() as unknown[][] } } })
    const columns = ['user_id', 'country', 'device', 'zip', 'amount', 'ts']
    const plans: { q: Question; checked: Awaited<ReturnType<typeof checkSql>>; plan: Awaited<ReturnType<typeof planDpQuery>> | undefined }[] = []
    for (const q of MIX) {
      const dp = (q.epsilon ?? 0) > 0
      const checked = await checkSql(parser, q.sql, { columns, privacyUnit: 'user_id', policy, dp })
      const plan = dp ? await planDpQuery(parser, checked, { privacyUnit: 'user_id', ...(q.bounds ? { bounds: q.bounds } : {}) }) : undefined
      plans.push({ q, checked, plan })
    }
    g.closeSync()
    gen.closeSync()

    const segDir = join(work, 'segments')
    await mkdir(segDir)
    const written = await writeParquetSegments(plainFile, { outDir: segDir, rowsPerSegment: ROWS_PER_SEGMENT })
    const blocksDir = join(work, 'blocks')
    const store = await openBlockstore(blocksDir)
    const dek = generateDatasetKey()
    const segments: DatasetManifest['segments'] = []
    let plainSegmentBytes = 0
    for (const [segmentIndex, seg] of written.segments.entries()) {
      const bytes = (await stat(seg.path)).size
      plainSegmentBytes += bytes
      const pieces = createReadStream(seg.path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Uint8Array>
      const imported = await importBytes(store, encryptSegmentStream({ key: dek, chunkSize: DEFAULT_CHUNK_SIZE, context: { datasetId, segmentIndex } }, pieces))
      if (imported.size !== envelopeCiphertextSize(bytes, DEFAULT_CHUNK_SIZE)) throw new Error(`segment ${segmentIndex}: wrong ciphertext size`)
      segments.push({ cid: imported.cid, rows: seg.rows, size: imported.size })
      await rm(seg.path)
    }
    const manifest = { datasetId, segments }
    const manifestCid = 'bench-manifest'
    const cipherBytes = segments.reduce((s, x) => s + x.size, 0)

    gateway = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve', blocksDir], { stdio: ['pipe', 'pipe', 'inherit'] })
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: gateway!.stdout! }).once('line', resolve)
      gateway!.once('exit', (code) => reject(new Error(`gateway exited with ${code}`)))
    })
    // The worker's own fetch of a segment's CAR (what runJob passes openJobData).
    const fetchCar = carFetcher(url)

    // ---- the sides ----
    type Answer = { columns: { name: string }[]; rows: unknown[][] }
    const analysis = (q: Question, segmentFiles: string[]) =>
      runSqlAnalysis({
        segmentFiles,
        schema: columns.map((name) => ({ name })),
        privacyUnit: 'user_id',
        policy,
        sql: q.sql,
        threads: THREADS,
        memoryLimit: MEMORY,
        noiseSeed,
        ...(q.epsilon ? { epsilon: q.epsilon } : {}),
        ...(q.bounds ? { bounds: q.bounds } : {}),
      })

    /** A job with nothing kept from before: open the data (fetch, verify, decrypt), analyse, release it. */
    async function cold(q: Question): Promise<{ ms: number; fetchMs: number; answer: Answer }> {
      const t0 = performance.now()
      const data = await openJobData({ manifestCid, manifest, dek, fetchCar })
      const t1 = performance.now()
      try {
        const answer = await analysis(q, data.files)
        return { ms: performance.now() - t0, fetchMs: t1 - t0, answer }
      } finally {
        await data.release()
      }
    }

    /** An analyst session: the first job opens the dataset, the others find what the worker kept. */
    const cache = createJobDataCache()
    async function warm(q: Question): Promise<{ ms: number; answer: Answer }> {
      const t0 = performance.now()
      const data = await cache.open({ manifestCid, manifest, dek, fetchCar })
      try {
        const answer = await analysis(q, data.files)
        return { ms: performance.now() - t0, answer }
      } finally {
        await data.release()
      }
    }

    async function plain(i: number): Promise<{ ms: number; answer: Answer }> {
      const { q, checked, plan } = plans[i]!
      const t0 = performance.now()
      const inst = await DuckDBInstance.create(':memory:', {
        autoinstall_known_extensions: 'false',
        autoload_known_extensions: 'false',
        memory_limit: MEMORY,
        threads: String(THREADS),
        temp_directory: '',
      })
      const conn = await inst.connect()
      await conn.run(`CREATE VIEW data AS SELECT * FROM read_parquet(${sqlString(plainFile)})`)
      const read = async (sql: string) => {
        const r = await conn.runAndReadAll(sql)
        return { columns: r.columnNames().map((name, j) => ({ name, type: r.columnTypes()[j]!.toString() })), rows: r.getRows() as unknown[][] }
      }
      let answer: Answer
      if (!plan) answer = gateThreshold(await read(checked.sql), checked, K)
      else {
        const names = (await read(`${checked.sql} LIMIT 0`)).columns.map((c) => c.name).slice(0, checked.outputs.length)
        answer = gateDp(await read(plan.sql), checked, plan, { k: K, epsilon: q.epsilon!, outputNames: names, noise: (label) => keyedRng(noiseSeed, label) })
      }
      conn.closeSync()
      inst.closeSync()
      return { ms: performance.now() - t0, answer }
    }

    const MB = 1e6
    console.log(
      `query: ${ROWS.toLocaleString('en')} rows (${USERS.toLocaleString('en')} users), plaintext Parquet ${((await stat(plainFile)).size / MB).toFixed(1)} MB; ${segments.length} segments, ${(plainSegmentBytes / MB).toFixed(1)} MB Parquet → ${(cipherBytes / MB).toFixed(1)} MB ciphertext behind a trustless gateway; ${MIX.length} questions, k ${K}, threads ${THREADS}, memory ${MEMORY}, median of ${REPS}, warm session of ${SESSION} jobs, node ${process.version}`,
    )
    const norm = (v: unknown) => (typeof v === 'bigint' ? v.toString() : typeof v === 'number' ? Number(v.toPrecision(9)) : v)
    /**
     * Exact outside DP. Under DP the same groups, counts and noise (one seed), but a sum may differ
     * by the rows kept: which row of a unit the contribution bound keeps is DuckDB's pick, so
     * values within 5%.
     */
    const same = (a: Answer, b: Answer, q: Question) => {
      if ((q.epsilon ?? 0) <= 0) return JSON.stringify(a.rows, (_k, v) => norm(v)) === JSON.stringify(b.rows, (_k, v) => norm(v))
      return a.rows.length === b.rows.length && a.rows.every((r, i) => r.every((v, j) => {
        const w = b.rows[i]![j]
        return typeof v === 'number' && typeof w === 'number' ? Math.abs(v - w) <= Math.max(0.05 * Math.max(Math.abs(v), Math.abs(w), 1), q.absTolerance ?? 0) : norm(v) === norm(w)
      }))
    }
    let disagree = 0
    const check = (i: number, side: string, a: Answer, b: Answer) => {
      if (same(a, b, MIX[i]!)) return
      disagree++
      console.log(`  ANSWERS DISAGREE on "${MIX[i]!.name}" (${side}): worker ${a.rows.length} rows, plain ${b.rows.length} rows`)
      if (process.env.W3A_BENCH_VERBOSE) console.log(a.rows, b.rows)
    }
    // Warm-up (JIT, page cache, DuckDB's first-use costs), not counted.
    await cold(MIX[0]!)
    await plain(0)

    const times = MIX.map(() => ({ cold: [] as number[], fetch: [] as number[], warm: [] as number[], plain: [] as number[] }))
    for (let r = 0; r < REPS; r++) {
      for (const [i, q] of MIX.entries()) {
        const p = await plain(i)
        const c = await cold(q)
        check(i, 'cold', c.answer, p.answer)
        times[i]!.plain.push(p.ms)
        times[i]!.cold.push(c.ms)
        times[i]!.fetch.push(c.fetchMs)
      }
      // A session of ten jobs: the mix, then its first two again; the session's opening job is a cold one.
      await cache.clear()
      const session = Array.from({ length: SESSION }, (_, j) => j % MIX.length)
      await warm(MIX[session[0]!]!)
      for (const i of session.slice(1)) {
        const w = await warm(MIX[i]!)
        check(i, 'warm', w.answer, (await plain(i)).answer)
        times[i]!.warm.push(w.ms)
      }
      await cache.clear()
    }

    // What stands between cold and plain, by phase: the fetch with every block checked alone (the same
    // CARs, the same streaming reader and lanes as loadSegments, the bytes dropped), then the whole open
    // (+ decrypt into memory files, overlapped with the fetch), then the query.
    const fetchVerify = async (): Promise<number> => {
      const t0 = performance.now()
      let next = 0
      const lane = async () => {
        while (next < segments.length) {
          const seg = segments[next++]!
          for await (const _ of readCarFile(await fetchCar(seg.cid), { root: seg.cid, size: seg.size })) {
            // drain: only the fetch and the checks are timed
          }
        }
      }
      await Promise.all(Array.from({ length: Math.min(DEFAULT_LOAD_CONCURRENCY, segments.length) }, lane))
      return performance.now() - t0
    }
    const verifyOnly: number[] = []
    for (let r = 0; r < REPS; r++) verifyOnly.push(await fetchVerify())

    const median = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b)
      return s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
    }
    const geo = (xs: number[]) => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length)
    const coldRatios: number[] = []
    const warmRatios: number[] = []
    console.log(`  ${'question'.padEnd(26)} ${'plain'.padStart(8)} ${'cold'.padStart(8)} ${'(fetch)'.padStart(9)} ${'warm'.padStart(8)}  cold×  warm×`)
    for (const [i, q] of MIX.entries()) {
      const t = times[i]!
      const p = median(t.plain)
      const c = median(t.cold)
      const w = median(t.warm)
      coldRatios.push(c / p)
      warmRatios.push(w / p)
      console.log(`  ${q.name.padEnd(26)} ${ms(p)} ${ms(c)} ${('(' + ms(median(t.fetch)).trim() + ')').padStart(9)} ${ms(w)}  ${(c / p).toFixed(2).padStart(5)}  ${(w / p).toFixed(2).padStart(5)}`)
    }
    console.log(`  fetch+verify+decrypt: ${((cipherBytes / MB) / (median(times.flatMap((t) => t.fetch)) / 1000)).toFixed(0)} MB/s of ciphertext`)
    {
      const open = median(times.flatMap((t) => t.fetch))
      const fv = median(verifyOnly)
      const query = median(times.map((t) => median(t.cold))) - open
      const plainMs = median(times.map((t) => median(t.plain)))
      console.log(
        `  cold phases (medians over the mix): fetch + verify every block ${fv.toFixed(0)} ms, + decrypt into memory files (overlapped) ${(open - fv).toFixed(0)} ms (open ${open.toFixed(0)} ms); ` +
          `query ${query.toFixed(0)} ms; plain DuckDB ${plainMs.toFixed(0)} ms (its whole job)`,
      )
    }
    {
      // The floor the open cannot go under on this machine: the two primitives every ciphertext
      // byte goes through (SHA-256 of each block, AES-256-GCM of each chunk), each on one core,
      // over the same number of bytes. Cores: the gateway, the hashing and the decryption overlap.
      const floor = primitivesFloorMs(cipherBytes)
      const open = median(times.flatMap((t) => t.fetch))
      const projected = geo(times.map((t) => (median(t.cold) - median(t.fetch) + floor.oneCoreMs / availableParallelism()) / median(t.plain)))
      console.log(
        `  open floor: SHA-256 ${floor.shaMBps.toFixed(0)} MB/s, AES-256-GCM ${floor.aesMBps.toFixed(0)} MB/s (one core each) → ${floor.oneCoreMs.toFixed(0)} ms of CPU for ${(cipherBytes / MB).toFixed(0)} MB, ` +
          `${(floor.oneCoreMs / availableParallelism()).toFixed(0)} ms on ${availableParallelism()} cores; the open measured ${open.toFixed(0)} ms; cold ratio with the open at that floor: ${projected.toFixed(2)}`,
      )
    }
    console.log(`answers agree: ${disagree === 0 ? 'yes' : `NO (${disagree} disagreements)`}`)
    console.log(`ratio (cold, worker / plain duckdb): ${geo(coldRatios).toFixed(2)} (target ≤ 1.5)`)
    console.log(`ratio (warm, worker / plain duckdb): ${geo(warmRatios).toFixed(2)} (target ≤ 1.15)`)
    return disagree === 0 ? 0 : 1
  } finally {
    gateway?.stdin?.end()
    gateway?.kill()
    await rm(work, { recursive: true, force: true })
  }
}

/** SHA-256 and AES-256-GCM decryption throughput of this machine (node:crypto, one core), and their CPU time for `bytes`. */
function primitivesFloorMs(bytes: number): { shaMBps: number; aesMBps: number; oneCoreMs: number } {
  const buf = randomBytes(64 * 1024 * 1024)
  const key = randomBytes(32)
  const iv = randomBytes(12)
  const rate = (fn: () => void) => {
    fn() // warm-up
    const t0 = performance.now()
    for (let i = 0; i < 3; i++) fn()
    return (3 * buf.length) / 1e6 / ((performance.now() - t0) / 1000)
  }
  const shaMBps = rate(() => {
    for (let o = 0; o < buf.length; o += 1024 * 1024) createHash('sha256').update(buf.subarray(o, o + 1024 * 1024)).digest()
  })
  const aesMBps = rate(() => {
    const d = createDecipheriv('aes-256-gcm', key, iv)
    d.update(buf)
  })
  const mb = bytes / 1e6
  return { shaMBps, aesMBps, oneCoreMs: (mb / shaMBps + mb / aesMBps) * 1000 }
}

function ms(x: number): string {
  return `${x.toFixed(0).padStart(5)} ms`
}

// ---- child process: the storage node's trustless gateway over the blockstore dir ----
if (process.argv[2] === '--serve') {
  const trustless = createTrustlessGateway(await openBlockstore(process.argv[3]!))
  const server = await serveHttp(async (req) => (await trustless(req)) ?? new Response('not found\n', { status: 404 }), { port: 0 })
  console.log(server.url)
  process.stdin.resume()
  process.stdin.on('end', () => void server.close().then(() => process.exit(0)))
} else {
  process.exitCode = await main()
}
