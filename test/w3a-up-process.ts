/**
 * `w3a up` as a child process, the way a newcomer runs it: resolves once it prints its ready
 * line (--json), with the URLs it printed. Used by the dashboard test and scripts/screenshots.ts;
 * the multi-node test starts `w3a gateway` and `w3a worker` the same way.
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

export async function startW3aProcess<T = Record<string, unknown>>(args: string[], timeoutMs = 90_000, env: NodeJS.ProcessEnv = process.env, command: string[] = [W3A_BIN]): Promise<W3aProcess<T>> {
  const proc = spawn(process.execPath, [...command, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env })
  const stderr: string[] = []
  createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l))
  const lines = createInterface({ input: proc.stdout! })
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    proc.kill('SIGINT')
    await exited
  }
  return await new Promise<W3aProcess<T>>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop()
      reject(new Error(`w3a ${args[0]} not ready in ${timeoutMs / 1000}s; stderr:\n${stderr.join('\n')}`))
    }, timeoutMs)
    proc.once('exit', (code) => reject(new Error(`w3a ${args[0]} exited early (${code}); stderr:\n${stderr.join('\n')}`)))
    lines.once('line', (line) => {
      clearTimeout(timer)
      proc.removeAllListeners('exit')
      resolve({ proc, ready: JSON.parse(line) as T, stderr, stop })
    })
  })
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
