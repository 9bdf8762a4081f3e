/**
 * Jobs that never hang silently (issue 10), on a real devnet: twenty jobs submitted at once are
 * all answered right while the worker runs a bounded number at a time; a worker killed with -9
 * in the middle of a job loses it to another worker (timeout, reassignment) instead of leaving
 * it open; a job nobody can finish is refunded and `w3a job show` says why; each part's log is
 * in the data dir; `waitForJob` stops at the job's own deadline.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, rmSync, readFileSync } from 'node:fs'
import { execFile } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { numberToHex, type Hex } from 'viem'
import { DuckDBInstance } from '@duckdb/node-api'
import { startDevnet, type RunningDevnet } from '../src/node/up.js'
import { spawnPart, type SpawnedPart } from '../src/node/spawn-part.js'
import { createChainClients, devAccount, getJob as chainGetJob, getWorker } from '../src/chain/index.js'
import { buyCredits, createW3aClient, getJob, getJobProgress, listOnMarket, openJobResult, setDatasetPolicy, submitQuery, uploadDataset, verifyJob, waitForJob, type W3aClient } from '../src/sdk/index.js'
import { parsePolicy } from '../src/custody/index.js'
import { isW3aError } from '../src/core/errors.js'
import { maxConcurrentJobsFor } from '../src/node/worker/job-loop.js'

const TOKEN = 10n ** 18n
const BIN = fileURLToPath(new URL('../bin/w3a.mjs', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'w3a-jobs-hang-'))
const csv = join(work, 'visits.csv')
let devnet: RunningDevnet
let owner: W3aClient
let analyst: W3aClient
let datasetId: Hex
let duck: Awaited<ReturnType<DuckDBInstance['connect']>>

function writeVisits(): void {
  const cities = ['Paris', 'Lyon', 'Nice', 'Brest']
  const lines = ['user_id,city,amount']
  for (let i = 0; i < 400; i++) lines.push(`u${(i * 37) % 100},${cities[(i * 7) % 4]},${((i * 53) % 100) + 1}`)
  writeFileSync(csv, lines.join('\n') + '\n')
}

async function plain(sql: string): Promise<unknown[][]> {
  const r = await duck.runAndReadAll(sql.replaceAll('FROM data', `FROM read_csv('${csv}', header = true)`))
  return r.getRows().map((row) => row.map((v) => (typeof v === 'bigint' ? v.toString() : v)))
}

/** Moves the chain's clock forward (nobody waits two minutes for a deadline here), then waits until the devnet's worker has heartbeaten again. */
async function jumpChainClock(seconds: number, after?: () => Promise<void>): Promise<void> {
  const chain = createChainClients({ rpcUrl: devnet.rpcUrl, chainId: devnet.chainId })
  await chain.publicClient.request({ method: 'evm_increaseTime' as never, params: [numberToHex(seconds)] as never })
  await chain.publicClient.request({ method: 'evm_mine' as never, params: [] as never })
  await after?.()
  for (let i = 0; i < 150; i++) {
    if ((await getWorker(chain.publicClient, { registry: devnet.contracts.workerRegistry, worker: devnet.workers[0]!.address })).eligible) return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error('the devnet worker did not heartbeat again')
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args, '--gateway', devnet.gatewayUrl], { env: { ...process.env, NO_COLOR: '1', W3A_DATA_DIR: devnet.dataDir } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}

before(async () => {
  writeVisits()
  devnet = await startDevnet({ dataDir: join(work, 'devnet'), port: 0 })
  owner = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: devAccount(1) })
  analyst = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: devAccount(2) })
  datasetId = (await uploadDataset(owner, { file: csv, name: 'visits', privacyUnit: 'user_id' })).id
  await setDatasetPolicy(owner, {
    id: datasetId,
    // Exact answers opted in, so the twenty answers can be compared with DuckDB on the plaintext.
    policy: parsePolicy({ k: 5, epsilonBudget: 50, analystEpsilonBudget: 50, openAccess: true, allowExact: true, exactQueries: 100, columns: { identifiers: ['user_id'], dimensions: ['city'], measures: ['amount'] } }),
  })
  await listOnMarket(owner, { id: datasetId, price: TOKEN, summary: 'jobs-never-hang fixture' })
  await buyCredits(analyst, { id: datasetId, credits: 30n })
  duck = await (await DuckDBInstance.create(':memory:')).connect()
})

after(async () => {
  duck?.closeSync()
  await devnet?.stop()
  rmSync(work, { recursive: true, force: true })
})

test('twenty jobs submitted at once are all answered right; the worker runs a bounded number at a time', async () => {
  assert.ok(maxConcurrentJobsFor(24 * 1024 ** 3) >= 1 && maxConcurrentJobsFor(24 * 1024 ** 3) < 20)
  assert.equal(maxConcurrentJobsFor(1024 ** 3), 1)
  // Twenty different exact answers (whole-dataset aggregates; a different quantile each), so no two jobs' outputs can be mixed up.
  const sqls = Array.from({ length: 20 }, (_, i) => `SELECT count(*) AS n, sum(amount) AS total, quantile_cont(amount, ${(0.25 + i * 0.025).toFixed(3)}) AS q FROM data`)
  const submitted = []
  for (const sql of sqls) submitted.push(await submitQuery(analyst, { id: datasetId, sql, epsilon: 0 }))
  const ended = await Promise.all(submitted.map((s) => waitForJob(analyst, { id: s.jobId, timeoutMs: 240_000, pollMs: 250 })))
  for (const [i, job] of ended.entries()) {
    assert.equal(job.status, 'completed', `job ${job.id}`)
    const opened = await openJobResult(analyst, { envelope: (await verifyJob(analyst, { id: job.id })).envelope })
    assert.equal(opened.status, 'completed')
    if (opened.status !== 'completed') continue
    const out = opened.output
    const want = await plain(sqls[i]!)
    assert.deepEqual(out.rows, want, `job ${job.id}: ${sqls[i]}`)
  }
  // The worker said what it did, in its log file in the data dir.
  const log = readFileSync(devnet.logs['worker-0']!, 'utf8')
  for (const s of submitted) assert.match(log, new RegExp(`job ${s.jobId} completed`))
  assert.match(readFileSync(devnet.logs['up']!, 'utf8'), /starting chain/)
})

test('a worker killed with -9 mid-job loses the job to another worker: it is never left open', async () => {
  const second: SpawnedPart<{ address: Hex; url: string }> = await spawnPart(
    ['worker', '--tee', 'sim', '--gateway', devnet.gatewayUrl, '--data-dir', join(work, 'worker-2'), '--operator-account', '5'],
    { log: () => {} },
  )
  try {
    // Round-robin assignment: submit until a job lands on the second worker; kill it as soon as it holds one.
    let victim: bigint | undefined
    for (let i = 0; i < 4 && victim === undefined; i++) {
      const s = await submitQuery(analyst, { id: datasetId, sql: 'SELECT city, count(*) AS n FROM data GROUP BY city ORDER BY city' })
      if (s.worker.toLowerCase() === second.ready.address.toLowerCase()) victim = s.jobId
      else assert.equal((await waitForJob(analyst, { id: s.jobId, timeoutMs: 120_000 })).status, 'completed')
    }
    assert.ok(victim !== undefined, 'no job was assigned to the second worker')
    second.child.kill('SIGKILL')
    await new Promise((r) => second.child.once('exit', r))
    const progress = await getJobProgress(analyst, { id: victim, worker: second.ready.address })
    const before = await getJob(analyst, { id: victim })
    if (before.status === 'open') {
      assert.equal(progress.reachable, false) // a dead worker answers nothing, and the client says so
      let job = before
      await jumpChainClock(130, async () => {
        job = await waitForJob(analyst, { id: victim, timeoutMs: 120_000, pollMs: 200 })
      })
      // Taken over by the devnet's own worker (attempt 2) and answered, or refunded: never open.
      assert.ok(job.status === 'completed' || job.status === 'refunded', job.status)
      if (job.status === 'completed') assert.equal(job.attempt, 2)
    } else {
      assert.notEqual(before.status, 'open') // it finished before the kill landed: nothing left open either
    }
  } finally {
    await second.stop()
  }
})

test('job show names the reason of a failed job, and of an open one what the worker is doing', async () => {
  const bad = await submitQuery(analyst, { id: datasetId, sql: 'SELECT user_id FROM data' })
  const job = await waitForJob(analyst, { id: bad.jobId, timeoutMs: 120_000 })
  assert.equal(job.status, 'failed')
  const shown = await cli(['job', 'show', String(bad.jobId), '--json'])
  assert.equal(shown.code, 0, shown.stderr)
  assert.equal(JSON.parse(shown.stdout).reason, 'query-refused')
  const text = await cli(['job', 'show', String(bad.jobId)])
  assert.match(text.stdout, /reason\s+query-refused \(code 1\)/)
})

test('waitForJob without a limit stops at the job’s own deadline, saying how to end it', async () => {
  // A worker that never answers: registered (so the job is assigned to it), then stopped.
  const silent: SpawnedPart<{ address: Hex; url: string }> = await spawnPart(
    ['worker', '--tee', 'sim', '--gateway', devnet.gatewayUrl, '--data-dir', join(work, 'worker-3'), '--operator-account', '6'],
    { log: () => {} },
  )
  await silent.stop()
  const reader = createW3aClient({ gatewayUrl: devnet.gatewayUrl }) // no account: it cannot time the job out itself
  let id: bigint | undefined
  for (let i = 0; i < 4 && id === undefined; i++) {
    const s = await submitQuery(analyst, { id: datasetId, sql: 'SELECT city, count(*) AS n FROM data GROUP BY city ORDER BY city' })
    if (s.worker.toLowerCase() === silent.ready.address.toLowerCase()) id = s.jobId
    else await waitForJob(analyst, { id: s.jobId, timeoutMs: 120_000 })
  }
  assert.ok(id !== undefined, 'no job was assigned to the silent worker')
  const chain = createChainClients({ rpcUrl: devnet.rpcUrl, chainId: devnet.chainId })
  const onChain = await chainGetJob(chain.publicClient, { jobs: devnet.contracts.jobs, jobId: id })
  assert.equal(onChain.status, 'open')
  // The chain's clock past the deadline and past the grace: the wait ends at once, not ten minutes later.
  await jumpChainClock(200, async () => {
    const started = Date.now()
    await assert.rejects(waitForJob(reader, { id, pollMs: 200 }), (e) => isW3aError(e, 'JOB_PENDING') && /past its deadline/.test((e as Error).message) && /w3a job timeout/.test((e as { details: string[] }).details.join('\n')))
    assert.ok(Date.now() - started < 30_000, 'the wait did not stop at the deadline')
  })
  // Anyone can end it; the analyst's own wait does.
  const ended = await waitForJob(analyst, { id, timeoutMs: 120_000 })
  assert.notEqual(ended.status, 'open')
})
