/**
 * `w3a up` as a child process, the way a newcomer runs it: resolves once it prints its ready
 * line (--json), with the URLs it printed. Used by the dashboard test and scripts/screenshots.ts;
 * the multi-node tests start `w3a gateway`, `w3a worker` and `w3a storage` the same way.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

export const W3A_BIN = join(import.meta.dirname, '..', 'bin', 'w3a.mjs')
/** The CLI run from src/ under tsx (a bench whose devnet runs in-process from src/ needs workers of the same build). */
export const W3A_FROM_SOURCE = ['--import', 'tsx', join(import.meta.dirname, '..', 'src', 'cli', 'run.ts')]

export type W3aUp = { proc: ChildProcess; gatewayUrl: string; rpcUrl: string; dashboardUrl: string; stderr: string[]; stop(): Promise<void> }

/** A long-running `w3a` command (up, gateway, worker) started with --json: its ready line, parsed. */
export type W3aProcess<T> = { proc: ChildProcess; ready: T; stderr: string[]; stop(): Promise<void> }

/** How long stop() waits after SIGINT before it kills the process group. */
const STOP_GRACE_MS = 15_000

// Every process group started here that has not exited: killed when this process exits, whatever
// the way out (a failed before(), a thrown assertion), so no w3a part or enclave is left behind.
const liveGroups = new Set<number>()
process.once('exit', () => {
  for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL')
})
// Stopped by a signal (Ctrl-C, the test runner's timeout): exit, so the 'exit' hooks above and
// elsewhere (Anvil, test/node-net.ts) still run. A SIGKILL runs none: node-net sweeps up next time.
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) process.once(signal, () => process.exit(code))

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal)
  } catch {
    // Already gone.
  }
}

/**
 * Starts `command` in a process group of its own (so its children, a w3a worker's enclave,
 * stop with it) and resolves with its first stdout line, parsed as JSON (it must say `"ready": true`). `stop()` sends SIGINT to
 * the process, then SIGKILL to its group if it has not exited after 15 s; once it has exited,
 * whatever is left of its group is killed. A process not ready in `timeoutMs` is stopped the same way.
 */
export async function startReadyProcess<T>(command: string[], name: string, timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<W3aProcess<T>> {
  const proc = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true })
  const pgid = proc.pid!
  liveGroups.add(pgid)
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  // The group may outlive its leader (a child still shutting down): kill what is left once the leader is gone.
  void exited.then(() => {
    killGroup(pgid, 'SIGKILL')
    liveGroups.delete(pgid)
  })
  const stderr: string[] = []
  createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l))
  const lines = createInterface({ input: proc.stdout! })
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGINT') // the leader only: it stops its own children in order
      const timer = setTimeout(() => killGroup(pgid, 'SIGKILL'), STOP_GRACE_MS)
      await exited
      clearTimeout(timer)
    }
  }
  return await new Promise<W3aProcess<T>>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop()
      reject(new Error(`${name} not ready in ${timeoutMs / 1000}s; stderr:\n${stderr.join('\n')}`))
    }, timeoutMs)
    const early = (code: number | null) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited early (${code}); stderr:\n${stderr.join('\n')}`))
    }
    proc.once('exit', early)
    // The ready line says `"ready": true`; a command that fails prints its error JSON instead, and exits.
    lines.once('line', (line) => {
      clearTimeout(timer)
      proc.off('exit', early)
      const ready = parseReady(line)
      if (ready !== undefined) return resolve({ proc, ready: ready as T, stderr, stop })
      void stop()
      reject(new Error(`${name} did not start: ${line}\nstderr:\n${stderr.join('\n')}`))
    })
  })
}

function parseReady(line: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(line) as Record<string, unknown> | null
    return v?.['ready'] === true ? v : undefined
  } catch {
    return undefined
  }
}

/** `launcher`: a command that runs the process somewhere else, e.g. `ip netns exec NAME` (test/node-net.ts). */
export async function startW3aProcess<T = Record<string, unknown>>(args: string[], timeoutMs = 90_000, env: NodeJS.ProcessEnv = process.env, launcher: string[] = []): Promise<W3aProcess<T>> {
  return startReadyProcess<T>([...launcher, process.execPath, W3A_BIN, ...args, '--json'], `w3a ${args[0]}`, timeoutMs, env)
}

export async function startW3aUp(dataDir: string, timeoutMs = 90_000, env?: NodeJS.ProcessEnv): Promise<W3aUp> {
  const up = await startW3aProcess<{ gatewayUrl: string; rpcUrl: string; dashboardUrl: string }>(['up', '--data-dir', dataDir, '--port', '0'], timeoutMs, env)
  return { proc: up.proc, gatewayUrl: up.ready.gatewayUrl, rpcUrl: up.ready.rpcUrl, dashboardUrl: up.ready.dashboardUrl, stderr: up.stderr, stop: up.stop }
}

/** Runs the `w3a` CLI; returns its parsed --json output (throws with stderr on failure). */
export function w3aJson<T = Record<string, unknown>>(args: string[]): T {
  const r = spawnSync(process.execPath, [W3A_BIN, ...args, '--json'], { encoding: 'utf8', timeout: 180_000 })
  if (r.status !== 0) throw new Error(`w3a ${args.join(' ')} exited ${r.status}: ${r.stderr}\n${r.stdout}`)
  return JSON.parse(r.stdout) as T
}

/** What one `w3a` run gave: its exit code, its output, and stdout parsed as JSON when it is JSON. */
export type W3aRun = { code: number; stdout: string; stderr: string; out: string; json: any }

/**
 * Runs the `w3a` CLI without blocking the event loop (needed while the test process itself
 * pipes a child's output, an Anvil it started, which would otherwise fill its pipe and stall).
 * Never throws on a failed run: tests assert on the code and the JSON error.
 */
export async function runW3a(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 180_000): Promise<W3aRun> {
  const proc = spawn(process.execPath, [W3A_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env, timeout: timeoutMs })
  const out: Buffer[] = []
  const err: Buffer[] = []
  proc.stdout!.on('data', (b: Buffer) => out.push(b))
  proc.stderr!.on('data', (b: Buffer) => err.push(b))
  const code = await new Promise<number | null>((resolve) => proc.once('close', resolve))
  const stdout = Buffer.concat(out).toString('utf8')
  const stderr = Buffer.concat(err).toString('utf8')
  let json: unknown
  try {
    json = JSON.parse(stdout)
  } catch {
    json = undefined
  }
  return { code: code ?? -1, stdout, stderr, out: `${stdout}\n${stderr}`, json }
}

/** Like w3aJson, through runW3a: the parsed --json output, or a throw with the run's output. */
export async function w3aJsonAsync<T = Record<string, unknown>>(args: string[], timeoutMs = 180_000): Promise<T> {
  const r = await runW3a([...args, '--json'], process.env, timeoutMs)
  if (r.code !== 0) throw new Error(`w3a ${args.join(' ')} exited ${r.code}: ${r.stderr}\n${r.stdout}`)
  return JSON.parse(r.stdout) as T
}
