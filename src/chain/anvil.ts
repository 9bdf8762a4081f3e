import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { W3aError } from '../core/errors.js'
import { DEV_ACCOUNT_COUNT, DEV_MNEMONIC } from './dev-accounts.js'
import { getFreePort } from './free-port.js'

export type StartAnvilParameters = {
  /** TCP port; 0 or undefined picks a free one. */
  port?: number
  /** Listen address. Default 127.0.0.1 (dev keys are public: do not expose by accident). */
  host?: string
  /** Loaded on start if it exists, dumped on exit and every `stateInterval` seconds. */
  stateFile?: string
  /** Seconds between state dumps while running (with `stateFile`). Default 5. */
  stateInterval?: number
  /** Default 31337. */
  chainId?: number
  /** Default: the public dev mnemonic (see dev-accounts.ts). Passed on anvil's command line, so dev keys only. */
  mnemonic?: string
  /** Seconds between blocks; default: mine each transaction as it arrives. */
  blockTime?: number
  /** Default true: anvil's output is only kept (last lines, for errors). false: echoed to stderr. */
  silent?: boolean
  /** Milliseconds to wait for the RPC to answer. Default 20 000. */
  startTimeout?: number
}

export type AnvilInstance = {
  rpcUrl: string
  port: number
  /** As reported by the running node. */
  chainId: number
  pid: number
  /** SIGINT (anvil dumps its state file), SIGKILL if it has not exited after 10 s. Idempotent. */
  stop(): Promise<void>
}

const KEEP_LINES = 40
const live = new Set<ChildProcess>()
let exitHookInstalled = false

/**
 * Starts an anvil node and resolves once its RPC answers eth_chainId. Never leaves it orphaned
 * when this process exits normally: a process 'exit' hook signals every node still running.
 * (A parent killed with SIGKILL cannot run hooks; the owner of signals, e.g. `w3a up`, should
 * call stop() on SIGINT/SIGTERM.)
 */
export async function startAnvil(params: StartAnvilParameters = {}): Promise<AnvilInstance> {
  const host = params.host ?? '127.0.0.1'
  const autoPort = params.port === undefined || params.port === 0
  if (params.stateFile !== undefined) mkdirSync(dirname(params.stateFile), { recursive: true })
  // A free port can be taken between probing and anvil binding it: retry a few times.
  for (let attempt = 1; ; attempt++) {
    const port = autoPort ? await getFreePort(host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host) : params.port!
    try {
      return await launch(params, host, port)
    } catch (e) {
      if (!(autoPort && e instanceof AddressInUse && attempt < 5)) throw e instanceof AddressInUse ? e.error : e
    }
  }
}

class AddressInUse extends Error {
  constructor(readonly error: W3aError) {
    super(error.message)
  }
}

async function launch(params: StartAnvilParameters, host: string, port: number): Promise<AnvilInstance> {
  const chainId = params.chainId ?? 31337
  const args = ['--host', host, '--port', String(port), '--chain-id', String(chainId)]
  args.push('--mnemonic', params.mnemonic ?? DEV_MNEMONIC, '--accounts', String(DEV_ACCOUNT_COUNT))
  if (params.blockTime !== undefined) args.push('--block-time', String(params.blockTime))
  if (params.stateFile !== undefined) {
    args.push('--state', params.stateFile, '--state-interval', String(params.stateInterval ?? 5))
  }

  // A custom mnemonic is a secret: never repeat it in error messages.
  const shownArgs = args.map((a, i) => (args[i - 1] === '--mnemonic' && params.mnemonic !== undefined ? '<mnemonic>' : a))
  const bin = resolveAnvilBinary()
  const started = performance.now()
  const child = spawn(bin.command, [...bin.args, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let listening = false
  const onOutput = (stream: NodeJS.ReadableStream) => {
    let partial = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n')
      partial = parts.pop() ?? ''
      for (const line of parts) {
        if (line.trim() === '') continue
        // "Listening on" proves that *this* process bound the port (not another node already there).
        if (line.startsWith('Listening on')) listening = true
        lines.push(line)
        if (lines.length > KEEP_LINES) lines.shift()
        if (params.silent === false) process.stderr.write(`[anvil] ${line}\n`)
      }
    })
  }
  onOutput(child.stdout!)
  onOutput(child.stderr!)

  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined
  let spawnError: Error | undefined
  const exitPromise = new Promise<void>((resolve) => {
    // 'close' (not 'exit'): stdio is drained by then, so the last lines explain a failed start.
    child.once('close', (code, signal) => {
      exited = { code, signal }
      live.delete(child)
      resolve()
    })
    child.once('error', (err) => {
      spawnError = err
      exited ??= { code: null, signal: null }
      live.delete(child)
      resolve()
    })
  })
  live.add(child)
  installExitHook()

  const connectHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  const rpcUrl = `http://${connectHost.includes(':') ? `[${connectHost}]` : connectHost}:${port}`
  const fail = (why: string): W3aError =>
    new W3aError('CHAIN_UNREACHABLE', `anvil did not start at ${rpcUrl}: ${why}`, {
      details: lines.length > 0 ? ['last anvil output:', ...lines.slice(-12)] : [`command: ${[bin.command, ...bin.args, ...shownArgs].join(' ')}`],
      cause: spawnError,
    })

  const timeout = params.startTimeout ?? 20_000
  let actualChainId: number | undefined
  while (actualChainId === undefined) {
    if (exited !== undefined) {
      const why = spawnError ? spawnError.message : `it exited with ${exited.signal ?? `code ${exited.code}`}`
      const err = fail(why)
      throw lines.some((l) => /address already in use/i.test(l)) ? new AddressInUse(err) : err
    }
    if (performance.now() - started > timeout) {
      await stopChild(child, exitPromise, () => exited !== undefined)
      throw fail(`no answer to eth_chainId within ${timeout} ms`)
    }
    if (listening) actualChainId = await rpcChainId(rpcUrl)
    if (actualChainId === undefined) await sleep(25)
  }

  let stopping: Promise<void> | undefined
  return {
    rpcUrl,
    port,
    chainId: actualChainId,
    pid: child.pid!,
    stop: () => (stopping ??= stopChild(child, exitPromise, () => exited !== undefined)),
  }
}

async function stopChild(child: ChildProcess, exitPromise: Promise<void>, hasExited: () => boolean, graceMs = 10_000): Promise<void> {
  if (hasExited()) return
  // SIGINT makes anvil dump its --state file before exiting.
  child.kill('SIGINT')
  let timer: NodeJS.Timeout | undefined
  const timedOut = await Promise.race([
    exitPromise.then(() => false),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs))),
  ])
  clearTimeout(timer)
  if (timedOut && !hasExited()) {
    child.kill('SIGKILL')
    await exitPromise
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // 'exit' handlers must be synchronous: signal and let the node finish its state dump alone.
  process.on('exit', () => {
    for (const child of live) child.kill('SIGINT')
  })
}

async function rpcChainId(rpcUrl: string): Promise<number | undefined> {
  try {
    const res = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(1_000),
    })
    const body = (await res.json()) as { result?: unknown }
    return typeof body.result === 'string' ? Number.parseInt(body.result, 16) : undefined
  } catch {
    return undefined
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export type AnvilBinary = { command: string; args: string[] }

/**
 * The anvil executable: $W3A_ANVIL_BIN if set, else the platform package's binary
 * (@foundry-rs/anvil-<os>-<arch>), else the @foundry-rs/anvil wrapper script run with node.
 */
export function resolveAnvilBinary(): AnvilBinary {
  const fromEnv = process.env['W3A_ANVIL_BIN']
  if (fromEnv) return { command: fromEnv, args: [] }
  const require = createRequire(import.meta.url)
  const arch = process.arch === 'x64' ? 'amd64' : process.arch
  const exe = process.platform === 'win32' ? 'anvil.exe' : 'anvil'
  try {
    const candidate = join(dirname(require.resolve(`@foundry-rs/anvil-${process.platform}-${arch}/package.json`)), 'bin', exe)
    if (existsSync(candidate)) return { command: candidate, args: [] }
  } catch {
    // platform package missing: try the wrapper
  }
  try {
    const wrapper = join(dirname(require.resolve('@foundry-rs/anvil/package.json')), 'bin.mjs')
    if (existsSync(wrapper)) return { command: process.execPath, args: [wrapper] }
  } catch {
    // fall through
  }
  throw new W3aError('CHAIN_UNREACHABLE', `cannot start anvil: no binary for ${process.platform}-${process.arch}`, {
    details: ['reinstall dependencies (npm install) so that @foundry-rs/anvil fetches its platform package, or set W3A_ANVIL_BIN to an anvil executable'],
  })
}
