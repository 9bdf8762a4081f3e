import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { W3aError } from '../core/errors.js'

const CLI_RUN = fileURLToPath(new URL('../cli/run.js', import.meta.url))

/** 60 s, or W3A_PART_START_TIMEOUT_MS: a machine under heavy load (tests run through tsx) may need more. */
function startTimeoutMs(): number {
  const env = Number(process.env.W3A_PART_START_TIMEOUT_MS)
  return Number.isSafeInteger(env) && env > 0 ? env : 60_000
}

export type SpawnedPart<T> = { child: ChildProcess; ready: T; stop(): Promise<void> }

/**
 * Starts another part of the network (`w3a worker …`) as its own process, with `--json`,
 * and waits for its first stdout line (its ready record). Its log lines go to `log`.
 */
export async function spawnPart<T>(args: string[], opts: { log: (line: string) => void; timeoutMs?: number }): Promise<SpawnedPart<T>> {
  // Under tsx (tests) run.js maps to run.ts and execArgv carries the loader.
  const entry = existsSync(CLI_RUN) ? CLI_RUN : CLI_RUN.replace(/\.js$/, '.ts')
  const child = spawn(process.execPath, [...process.execArgv, entry, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const stderr: string[] = []
  createInterface({ input: child.stderr! }).on('line', (l) => {
    stderr.push(l)
    opts.log(l)
  })
  const lines = createInterface({ input: child.stdout! })
  const ready = await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new W3aError('INTERNAL', `w3a ${args[0]} did not start in time`, { details: stderr.slice(-5) }))
    }, opts.timeoutMs ?? startTimeoutMs())
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new W3aError('INTERNAL', `w3a ${args[0]} exited during start (code ${code})`, { details: stderr.slice(-5) }))
    })
    lines.once('line', (line) => {
      clearTimeout(timer)
      child.removeAllListeners('exit')
      try {
        resolve(JSON.parse(line) as T)
      } catch {
        reject(new W3aError('INTERNAL', `w3a ${args[0]} printed no ready record`, { details: [line.slice(0, 200)] }))
      }
    })
  })
  return {
    child,
    ready,
    stop: () =>
      new Promise<void>((resolve) => {
        // Already gone (exited, or killed by a signal: then exitCode stays null).
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000)
        child.once('exit', () => {
          clearTimeout(kill)
          resolve()
        })
        child.kill('SIGINT')
      }),
  }
}
