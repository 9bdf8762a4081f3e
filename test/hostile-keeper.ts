/**
 * The test's handle on a hostile keeper host (test/hostile-keeper-host.ts), a process of its own:
 * start and stop its worker, make it call its enclave with whatever it likes, and read the
 * transcript of everything it saw. No tests of its own.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Address } from 'viem'
import { W3aError, type W3aErrorCode } from '../src/core/errors.js'
import type { EnclaveInfo } from '../src/enclave/service.js'
import type { HostileKeeperConfig, HostileReply, HostileRequest } from './hostile-keeper-host.js'

const MAIN = fileURLToPath(new URL('./hostile-keeper-host.ts', import.meta.url))

export type TranscriptLine = { kind: 'enclave' | 'http-in' | 'http-out' | 'stdio' | 'file-watched' | 'file-at-rest' | 'attack'; [k: string]: unknown }
export type AttackLine = { kind: 'attack'; name: string; ok: boolean; result?: unknown; error?: { code: string; message: string }; adopted?: boolean }

export type HostileKeeper = {
  start(): Promise<{ address: Address; url: string; info: EnclaveInfo }>
  stop(): Promise<void>
  /** The host calls its enclave directly (recorded like every other call). */
  call<T>(method: string, params?: unknown): Promise<T>
  /** The raw transcript text, and parsed. */
  transcriptText(): string
  transcript(): TranscriptLine[]
  attacks(): AttackLine[]
  kill(): Promise<void>
}

export async function forkHostileKeeper(config: HostileKeeperConfig): Promise<HostileKeeper> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  // Under tsx (the test runner's --import) execArgv carries the loader into the child.
  const child: ChildProcess = fork(MAIN, [], { serialization: 'advanced', env: { ...process.env, W3A_HOSTILE_KEEPER: JSON.stringify(config) }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  // What its enclave prints lands on the host's own stdout/stderr (inherited): the host sees it too.
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.on('data', (chunk: Buffer) => {
      appendFileSync(config.transcriptFile, JSON.stringify({ kind: 'stdio', text: chunk.toString('utf8') }) + '\n')
      process.stderr.write(chunk)
    })
  }
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>()
  let nextId = 1
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`hostile keeper host exited during start (${code})`)))
    child.on('message', (msg: HostileReply) => {
      if (msg.id === 0) return resolve()
      const p = pending.get(msg.id)
      pending.delete(msg.id)
      if (msg.error) p?.reject(new W3aError(msg.error.code as W3aErrorCode, msg.error.message))
      else p?.resolve(msg.result)
    })
  })
  await ready
  child.removeAllListeners('exit')
  child.on('exit', (code) => {
    for (const p of pending.values()) p.reject(new Error(`hostile keeper host exited (${code})`))
    pending.clear()
  })
  const send = <T>(req: Omit<HostileRequest, 'id'>) =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      child.send({ ...req, id })
    })
  const transcriptText = () => (existsSync(config.transcriptFile) ? readFileSync(config.transcriptFile, 'utf8') : '')
  const transcript = () => transcriptText().split('\n').filter(Boolean).map((l) => JSON.parse(l) as TranscriptLine)
  return {
    start: () => send({ op: 'start' }),
    stop: () => send({ op: 'stop' }),
    call: (method, params) => send({ op: 'call', method, params }),
    transcriptText,
    transcript,
    attacks: () => transcript().filter((l): l is AttackLine => l.kind === 'attack'),
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      await send({ op: 'stop' }).catch(() => undefined)
      child.kill('SIGTERM')
      await exited
    },
  }
}
