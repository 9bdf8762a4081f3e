/**
 * Issue 11, "no plaintext at rest", mounted on a real devnet: a second worker (its host and its
 * enclave real processes) runs a job over a dataset whose every row carries a planted value;
 * this test, playing its host, watches the worker's data dir and the temp dirs while the job
 * runs, then kills the worker with -9 in the middle of it. No file anywhere it could read is a
 * Parquet file or holds a planted value, before or after the kill; the restarted worker wipes
 * what an older version left; the job is completed by the retry or refunded, never left open.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { numberToHex, type Hex } from 'viem'
import { DuckDBInstance } from '@duckdb/node-api'
import { startDevnet, type RunningDevnet } from '../src/node/up.js'
import { spawnPart, type SpawnedPart } from '../src/node/spawn-part.js'
import { createChainClients, devAccount } from '../src/chain/index.js'
import { buyCredits, createW3aClient, getJob, listOnMarket, setDatasetPolicy, submitQuery, uploadDataset, waitForJob, type W3aClient } from '../src/sdk/index.js'
import { parsePolicy } from '../src/custody/index.js'

const TOKEN = 10n ** 18n
/** Every row's token starts with it: found in any file that holds a cell of the column. */
const PLANT = `plant${randomBytes(6).toString('hex')}`
const ROWS = 300_000
const work = mkdtempSync(join(tmpdir(), 'w3a-no-plaintext-'))
const workerDir = join(work, 'worker-2')
const csv = join(work, 'visits.csv')
let devnet: RunningDevnet
let owner: W3aClient
let analyst: W3aClient
let datasetId: Hex
let tokens: string[]

before(async () => {
  const cities = ['Paris', 'Lyon', 'Nice', 'Brest']
  tokens = Array.from({ length: ROWS }, () => PLANT + randomBytes(8).toString('hex'))
  writeFileSync(csv, ['user_id,city,token,amount', ...tokens.map((t, i) => `u${i % 5000},${cities[i % 4]},${t},${(i * 53) % 100}`)].join('\n') + '\n')
  devnet = await startDevnet({ dataDir: join(work, 'devnet'), port: 0 })
  owner = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: devAccount(1) })
  analyst = createW3aClient({ gatewayUrl: devnet.gatewayUrl, account: devAccount(2) })
  datasetId = (await uploadDataset(owner, { file: csv, name: 'visits', privacyUnit: 'user_id' })).id
  await setDatasetPolicy(owner, {
    id: datasetId,
    policy: parsePolicy({ k: 5, epsilonBudget: 50, analystEpsilonBudget: 50, openAccess: true, columns: { identifiers: ['user_id', 'token'], dimensions: ['city'], measures: ['amount'] }, bounds: { amount: [0, 100] } }),
  })
  await listOnMarket(owner, { id: datasetId, price: TOKEN, summary: 'no-plaintext-at-rest fixture' })
  await buyCredits(analyst, { id: datasetId, credits: 10n })
})

after(async () => {
  await devnet?.stop()
  rmSync(work, { recursive: true, force: true })
})

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    try {
      return statSync(p).isDirectory() ? filesUnder(p) : [p]
    } catch {
      return [] // removed while we looked
    }
  })
}

/** What a host reading `files` learns: Parquet files, and files holding a planted value. */
function leaks(files: string[]): string[] {
  const out: string[] = []
  for (const f of files) {
    let bytes: Buffer
    try {
      bytes = readFileSync(f)
    } catch {
      continue
    }
    if (bytes.subarray(0, 4).toString() === 'PAR1' || f.endsWith('.parquet')) out.push(`${f}: a Parquet file`)
    if (bytes.includes(PLANT)) out.push(`${f}: a planted value`)
  }
  return out
}

/** The worker's data dir and every temp dir a part of it could have used. */
const watched = () => [...filesUnder(workerDir), ...readdirSync(tmpdir()).filter((n) => /^(w3a-(analysis|duckdb)-|duckdb)/.test(n)).flatMap((n) => filesUnder(join(tmpdir(), n)))]

/** The enclave process of a worker host (its child), and whether it holds decrypted segments (anonymous memory files) right now. */
function enclaveOf(hostPid: number): number | undefined {
  for (const n of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const ppid = Number(readFileSync(`/proc/${n}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])
      if (ppid === hostPid) return Number(n)
    } catch {
      // gone
    }
  }
  return undefined
}
function holdsMemoryFiles(pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return /^\/dev\/shm\/.* \(deleted\)$/.test(readlinkSync(`/proc/${pid}/fd/${fd}`))
      } catch {
        return false
      }
    })
  } catch {
    return false
  }
}

test('the leak detector finds a planted value in a Parquet file (control)', async () => {
  const control = join(work, 'control.parquet')
  const c = await (await DuckDBInstance.create(':memory:')).connect()
  await c.run(`COPY (SELECT * FROM read_csv('${csv}', header = true)) TO '${control}' (FORMAT parquet)`)
  c.closeSync()
  assert.deepEqual(leaks([control]), [`${control}: a Parquet file`, `${control}: a planted value`])
  rmSync(control)
})

test('a worker killed with -9 mid-job leaves no plaintext on disk, a restart wipes older leftovers, and the job is retried or refunded', async () => {
  const spawn = () => spawnPart<{ address: Hex; url: string }>(['worker', '--tee', 'sim', '--gateway', devnet.gatewayUrl, '--data-dir', workerDir, '--operator-account', '5'], { log: () => {} })
  let second: SpawnedPart<{ address: Hex; url: string }> = await spawn()
  let victim: bigint | undefined
  try {
    const enclave = enclaveOf(second.child.pid!)
    assert.ok(enclave !== undefined, 'the worker host has no enclave process')
    // Every column of a segment is decrypted whatever the question names: the token cells are in the worker's memory.
    const sql = 'SELECT city, count(*) AS n FROM data GROUP BY city ORDER BY city'
    for (let i = 0; i < 4 && victim === undefined; i++) {
      const s = await submitQuery(analyst, { id: datasetId, sql })
      if (s.worker.toLowerCase() === second.ready.address.toLowerCase()) victim = s.jobId
      else assert.equal((await waitForJob(analyst, { id: s.jobId, timeoutMs: 180_000 })).status, 'completed')
    }
    assert.ok(victim !== undefined, 'no job was assigned to the second worker')

    // The hostile host's view while the job runs: its files, polled until decryption is under way.
    const seen: string[] = []
    let inJob = false
    for (let i = 0; i < 6000 && !inJob; i++) {
      seen.push(...leaks(watched()))
      inJob = holdsMemoryFiles(enclave)
      if (!inJob) {
        if ((await getJob(analyst, { id: victim })).status !== 'open') break
        await new Promise((r) => setTimeout(r, 10))
      }
    }
    assert.ok(inJob, 'the job ended before the test saw it decrypting: make the dataset larger')
    seen.push(...leaks(watched()))
    process.kill(enclave, 'SIGKILL')
    second.child.kill('SIGKILL')
    await new Promise((r) => second.child.once('exit', r))
    assert.deepEqual(seen, [], 'the worker wrote plaintext where its host could read it while the job ran')
    assert.deepEqual(leaks(watched()), [], 'the killed worker left plaintext behind')

    // What a version that decrypted to disk left after its crash is wiped before the restarted enclave runs anything.
    const legacy = join(workerDir, 'enclave', 'jobs', `job-${victim}`)
    mkdirSync(legacy, { recursive: true })
    writeFileSync(join(legacy, 'segment-0.parquet'), `PAR1 ${PLANT}`)
    second = await spawn()
    assert.equal(existsSync(join(workerDir, 'enclave', 'jobs')), false, 'the restarted worker left the older plaintext in place')
    assert.deepEqual(leaks(watched()), [])
  } finally {
    await second.stop()
  }

  // The job: the chain's clock past its deadline; the analyst's wait times it out, and it is reassigned or refunded.
  const chain = createChainClients({ rpcUrl: devnet.rpcUrl, chainId: devnet.chainId })
  if ((await getJob(analyst, { id: victim })).status === 'open') {
    await chain.publicClient.request({ method: 'evm_increaseTime' as never, params: [numberToHex(600)] as never })
    await chain.publicClient.request({ method: 'evm_mine' as never, params: [] as never })
  }
  const job = await waitForJob(analyst, { id: victim, timeoutMs: 180_000, pollMs: 200 })
  assert.ok(job.status === 'completed' || job.status === 'refunded', job.status)
  if (job.status === 'completed') assert.equal(job.attempt, 2)
})
