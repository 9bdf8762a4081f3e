/**
 * A hostile keeper host, run as a process of its own by test/hostile-keeper.ts (no tests here).
 * It is the real worker host (`startWorker`, keeper role, its enclave in a child process) with
 * its two surfaces wrapped (`intercept`) and `fetch` patched, so that everything the host sees
 * goes into a transcript file (JSON lines, bytes as hex): every enclave call and reply, every
 * HTTP request and response it serves or sends, and every file in its data directory, read as
 * soon as it changes (its stdout and stderr, where its enclave prints too, are recorded by
 * test/hostile-keeper.ts). It also attacks while the network runs, each attempt recorded as an
 * `attack` line with what the enclave answered:
 * - hand-over hijack: before its genuine hand-over, it makes a cluster secret of its own and
 *   offers it to its enclave as a hand-over response "from" keeper 1 (keeper 1's quote, the
 *   host's signature), then as its own (its own signature, keeper 1's quote);
 * - forged refusals: before running a job it asks its enclave to sign a failure on a bare
 *   refusal, on one signed by the host in keeper 1's name, and on its own keeper enclave's
 *   genuine refusal vote obtained with a wrong sealed analysis (one vote of a set of three);
 * - re-runs: the same job run again right after, and again once its result is mined.
 * Driven over IPC: { id, op: 'start' | 'stop' | 'call', method?, params? } → { id, result | error }.
 */
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs'
import { join, relative } from 'node:path'
import { hexToBytes, type Address, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { devAccount, listWorkers, createChainClients } from '../src/chain/index.js'
import { W3aError } from '../src/core/errors.js'
import { EpochKeyring, createEmptyState, createInitialSecret, createHandoverResponse, handoverToJson, parseHandoverRequest } from '../src/custody/index.js'
import { keeperSetHash } from '../src/custody/index.js'
import { refusalVoteDigest, type NamedKeeper, type RefusalQuorum, type RefusalVote } from '../src/enclave/refusal-quorum.js'
import type { JobView } from '../src/enclave/job-view.js'
import type { EnclaveInfo } from '../src/enclave/service.js'
import type { FetchHandler } from '../src/node/http-server.js'
import type { EnclaveCaller } from '../src/node/worker/enclave-caller.js'
import { startWorker, type RunningWorker, type StartWorkerParameters } from '../src/node/worker/worker-host.js'

export type HostileKeeperConfig = {
  dataDir: string
  transcriptFile: string
  rpcUrl: string
  gatewayUrl: string
  contracts: StartWorkerParameters['contracts']
  operatorAccount: number
}

export type HostileRequest = { id: number; op: 'start' | 'stop' | 'call'; method?: string; params?: unknown }
export type HostileReply = { id: number; result?: unknown; error?: { code: string; message: string } }

const config = JSON.parse(process.env['W3A_HOSTILE_KEEPER'] ?? '{}') as HostileKeeperConfig

/** JSON with every byte array as hex (also Buffers, whose toJSON would hide them as number lists). */
function text(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v: unknown) {
    const raw = this[key]
    if (raw instanceof Uint8Array) return `0x${Buffer.from(raw).toString('hex')}`
    return typeof v === 'bigint' ? v.toString() : v
  })
}
function record(kind: string, entry: Record<string, unknown>): void {
  appendFileSync(config.transcriptFile, text({ kind, ...entry }) + '\n')
}
const errorOf = (e: unknown) => ({ code: e instanceof W3aError ? e.code : 'UNKNOWN', message: (e as Error).message })

// ---- everything the host sends and receives over HTTP ----
const realFetch = globalThis.fetch
globalThis.fetch = async (input, init) => {
  const request = new Request(input, init)
  const body = request.body ? new Uint8Array(await request.clone().arrayBuffer()) : undefined
  const response = await realFetch(request)
  record('http-out', { method: request.method, url: request.url, body, status: response.status, response: new Uint8Array(await response.clone().arrayBuffer()) })
  return response
}
const tapHttp = (handler: FetchHandler): FetchHandler => async (req) => {
  const body = req.body ? new Uint8Array(await req.clone().arrayBuffer()) : undefined
  const res = await handler(req)
  record('http-in', { method: req.method, url: req.url, body, status: res.status, response: new Uint8Array(await res.clone().arrayBuffer()) })
  return res
}

// ---- everything in its data directory, read as soon as it changes ----
function readFile(path: string, why: string): void {
  try {
    if (statSync(path).isFile()) record(why, { path: relative(config.dataDir, path), bytes: readFileSync(path) })
  } catch {
    // gone already
  }
}
let watcher: FSWatcher | undefined
function watchDataDir(): void {
  watcher ??= watch(config.dataDir, { recursive: true }, (_event, name) => {
    if (name) readFile(join(config.dataDir, name.toString()), 'file-watched')
  })
}
function sweepDataDir(dir = config.dataDir): void {
  if (!existsSync(dir)) return
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) sweepDataDir(p)
    else readFile(p, 'file-at-rest')
  }
}

// ---- the enclave door, every call and reply, and the attacks mounted through it ----
type KeeperPublic = { address: Address; quote: Hex; hpkePublicKey: Hex }
const hostKey = privateKeyToAccount(generatePrivateKey())
let me: EnclaveInfo | undefined

async function otherKeeper(): Promise<KeeperPublic> {
  const { publicClient } = createChainClients({ rpcUrl: config.rpcUrl, chainId: config.contracts.chainId })
  const workers = await listWorkers(publicClient, { registry: config.contracts.workerRegistry })
  const k = workers.find((w) => w.isKeeper && w.eligible && w.address.toLowerCase() !== me?.address.toLowerCase())
  if (!k) throw new Error('no other keeper to impersonate')
  const info = (await (await fetch(`${k.endpoint}/v1/info`)).json()) as KeeperPublic
  return { address: k.address, quote: info.quote, hpkePublicKey: info.hpkePublicKey }
}

async function attack(name: string, run: () => Promise<unknown>, after?: () => Promise<Record<string, unknown>>): Promise<void> {
  let entry: Record<string, unknown>
  try {
    entry = { name, ok: true, result: await run() }
  } catch (e) {
    entry = { name, ok: false, error: errorOf(e) }
  }
  record('attack', { ...entry, ...(after ? await after() : {}) })
}

/** Before its genuine hand-over: offers its enclave a cluster secret the host made itself. */
async function hijackHandover(door: EnclaveCaller): Promise<void> {
  const keeper1 = await otherKeeper()
  const hostSecret = new EpochKeyring(0n, createInitialSecret())
  const forge = async (named: Address) => {
    const request = parseHandoverRequest(await door.call('requestHandover'))
    const response = await createHandoverResponse({ keyring: hostSecret, state: createEmptyState(), nextIndex: 0n, request, signer: hostKey, quote: hexToBytes(keeper1.quote), hpkePublicKey: hexToBytes(keeper1.hpkePublicKey) })
    // The host names the sender; the `from` parameter is the host's word as well.
    return { response: handoverToJson({ ...response, from: named }), from: keeper1.address }
  }
  const adopted = async () => ({ adopted: await door.call<boolean>('hasClusterSecret') })
  await attack('handover-hijack: host secret, named from keeper 1', async () => door.call('receiveHandover', await forge(keeper1.address)), adopted)
  await attack('handover-hijack: host secret, own signature, keeper 1 quote', async () => door.call('receiveHandover', await forge(hostKey.address)), adopted)
}

type RunJobParams = { job: JobView; release: unknown }
/**
 * Before a job runs: asks the enclave to sign a failure on refusals the host made up: a bare
 * reason; a refusal quorum naming keeper 1 alone, signed by the host in its name; and its own
 * keeper enclave's genuine refusal vote, got by feeding it a wrong sealed analysis (a
 * `bad-analysis` pays the worker's operator), wrapped as a quorum of the set it names.
 */
async function forgeRefusals(door: EnclaveCaller, p: RunJobParams): Promise<void> {
  const keeper1 = await otherKeeper()
  const reason = 'budget-exhausted'
  const challenge: Hex = `0x${'ab'.repeat(32)}`
  const domain = { chainId: config.contracts.chainId, jobs: config.contracts.jobs, registry: config.contracts.workerRegistry }
  const alone: NamedKeeper[] = [{ address: keeper1.address.toLowerCase() as Address, attestedAt: String(Math.floor(Date.now() / 1000)) }]
  const digest = refusalVoteDigest({ ...domain, jobId: p.job.id, worker: me!.address, failure: reason, epoch: 0n, keeperSetHash: keeperSetHash(alone.map((k) => ({ address: k.address, attestedAt: BigInt(k.attestedAt) }))), challenge })
  const inKeeperName: RefusalQuorum = { v: 2, failure: reason, reason, epoch: '0', challenge, keepers: alone, votes: [{ keeper: keeper1.address, hpkePublicKey: keeper1.hpkePublicKey, quote: keeper1.quote, signature: await hostKey.signMessage({ message: { raw: digest } }) }] }
  await attack(`forged refusal, bare reason: job ${p.job.id}`, () => door.call('runJob', { job: p.job, release: { refused: reason } }))
  await attack(`forged refusal, signed in keeper 1's name: job ${p.job.id}`, () => door.call('runJob', { job: p.job, release: { refused: inKeeperName } }))
  await attack(`forged refusal, its own keeper's vote on a wrong analysis: job ${p.job.id}`, async () => {
    const worker = { address: me!.address, hpkePublicKey: me!.hpkePublicKey, isCompute: true, eligible: true, measurementAllowed: true }
    const answer = await door.call<{ ok: boolean; vote?: RefusalVote & { failure: RefusalQuorum['failure']; epoch: string; keepers: NamedKeeper[] } }>('voteOnRelease', { challenge, job: p.job, worker, quote: me!.quote, sealedAnalysis: '0x00' })
    if (!answer.vote) throw new Error(`its enclave gave no refusal vote (${JSON.stringify(answer)})`)
    const { failure, epoch, keepers, ...vote } = answer.vote
    const own: RefusalQuorum = { v: 2, failure, reason: 'bad-analysis', epoch, challenge, keepers, votes: [vote] }
    return door.call('runJob', { job: p.job, release: { refused: own } })
  })
}

function hostileDoor(door: EnclaveCaller): EnclaveCaller {
  let hijacked = false
  const runs = new Map<string, { params: RunJobParams; envelope: unknown }>()
  const call = async <T>(method: string, params?: unknown): Promise<T> => {
    try {
      const result = await door.call<T>(method, params)
      record('enclave', { method, params, result })
      return result
    } catch (e) {
      record('enclave', { method, params, error: errorOf(e) })
      throw e
    }
  }
  return {
    close: () => door.close(),
    async call<T>(method: string, params?: unknown): Promise<T> {
      if (method === 'init') return (me = await call<EnclaveInfo>(method, params)) as T
      if (method === 'requestHandover' && !hijacked) {
        hijacked = true
        await hijackHandover({ call, close: door.close })
      }
      if (method !== 'runJob') {
        const result = await call<T>(method, params)
        if (method === 'jobDone') {
          const jobId = String((params as { jobId: bigint }).jobId)
          const run = runs.get(jobId)
          if (run) await attack(`re-run after the result was mined: job ${jobId}`, () => call('runJob', run.params))
        }
        return result
      }
      const p = params as RunJobParams
      const jobId = String(p.job.id)
      if (!runs.has(jobId)) await forgeRefusals({ call, close: door.close }, p)
      const out = await call<{ envelope: unknown }>(method, params)
      if (!runs.has(jobId)) {
        runs.set(jobId, { params: p, envelope: out.envelope })
        await attack(`re-run for fresh noise: job ${jobId}`, async () => ({ same: text((await call<{ envelope: unknown }>('runJob', p)).envelope) === text(out.envelope) }))
      }
      return out as T
    },
  }
}

// ---- driven by the test over IPC ----
let worker: RunningWorker | undefined
let enclave: EnclaveCaller | undefined
async function handle(req: HostileRequest): Promise<unknown> {
  switch (req.op) {
    case 'start': {
      watchDataDir()
      worker = await startWorker({
        dataDir: config.dataDir,
        tee: 'sim',
        keeper: true,
        rpcUrl: config.rpcUrl,
        gatewayUrl: config.gatewayUrl,
        contracts: config.contracts,
        operator: devAccount(config.operatorAccount),
        dev: true,
        pollMs: 300,
        intercept: { caller: (door) => (enclave = hostileDoor(door)), http: tapHttp },
      })
      return { address: worker.address, url: worker.url, info: worker.info }
    }
    case 'stop':
      await worker?.stop()
      worker = undefined
      sweepDataDir()
      return null
    case 'call':
      if (!enclave) throw new W3aError('INTERNAL', 'the hostile keeper has not started')
      return enclave.call(req.method!, req.params)
  }
}

watchDataDir()
process.on('message', (req: HostileRequest) => {
  handle(req).then(
    (result) => process.send!({ id: req.id, result } satisfies HostileReply),
    (e) => process.send!({ id: req.id, error: errorOf(e) } satisfies HostileReply),
  )
})
process.send!({ id: 0, result: 'ready' } satisfies HostileReply)
