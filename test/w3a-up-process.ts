/**
 * `w3a up` as a child process, the way a newcomer runs it: resolves once it prints its ready
 * line (--json), with the URLs it printed. Used by the dashboard test and scripts/screenshots.ts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

export const W3A_BIN = join(import.meta.dirname, '..', 'bin', 'w3a.mjs')

export type W3aUp = { proc: ChildProcess; gatewayUrl: string; rpcUrl: string; dashboardUrl: string; stderr: string[]; stop(): Promise<void> }

export async function startW3aUp(dataDir: string, timeoutMs = 90_000, env?: NodeJS.ProcessEnv): Promise<W3aUp> {
  const proc = spawn(process.execPath, [W3A_BIN, 'up', '--data-dir', dataDir, '--port', '0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) })
  const stderr: string[] = []
  createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l))
  const lines = createInterface({ input: proc.stdout! })
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    proc.kill('SIGINT')
    await exited
  }
  return await new Promise<W3aUp>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop()
      reject(new Error(`w3a up not ready in ${timeoutMs / 1000}s; stderr:\n${stderr.join('\n')}`))
    }, timeoutMs)
    proc.once('exit', (code) => reject(new Error(`w3a up exited early (${code}); stderr:\n${stderr.join('\n')}`)))
    lines.once('line', (line) => {
      clearTimeout(timer)
      proc.removeAllListeners('exit')
      const ready = JSON.parse(line) as { gatewayUrl: string; rpcUrl: string; dashboardUrl: string }
      resolve({ proc, gatewayUrl: ready.gatewayUrl, rpcUrl: ready.rpcUrl, dashboardUrl: ready.dashboardUrl, stderr, stop })
    })
  })
}

/** Runs the `w3a` CLI; returns its parsed --json output (throws with stderr on failure). */
export function w3aJson<T = Record<string, unknown>>(args: string[]): T {
  const r = spawnSync(process.execPath, [W3A_BIN, ...args, '--json'], { encoding: 'utf8', timeout: 180_000 })
  if (r.status !== 0) throw new Error(`w3a ${args.join(' ')} exited ${r.status}: ${r.stderr}\n${r.stdout}`)
  return JSON.parse(r.stdout) as T
}
