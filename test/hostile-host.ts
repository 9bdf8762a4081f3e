/**
 * A hostile host for tests (no tests of its own): it forks the real enclave process
 * (src/enclave/main.ts, as src/node/worker/worker-host.ts does: `serialization: 'advanced'`,
 * config in W3A_ENCLAVE_CONFIG) and lets a test call its RPC methods directly, with whatever
 * inputs it likes: replayed calls, forged keeper answers, job views and worker facts that are
 * not what the chain says, restarts on the same data directory. Whatever the enclave does not
 * check itself, this host can lie about.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { W3aError } from '../src/core/errors.js'
import { toJsonText } from '../src/core/json-text.js'
import type { EnclaveInfo } from '../src/enclave/service.js'
import type { EnclaveBoot } from '../src/enclave/boot.js'
import { createEnclaveCaller, type EnclaveCaller } from '../src/node/worker/enclave-caller.js'

const MAIN = fileURLToPath(new URL('../src/enclave/main.ts', import.meta.url))

export type HostileHost = {
  /** Any enclave method, any params: the host decides what it passes. */
  call<T>(method: string, params?: unknown): Promise<T>
  /** What `init` returned for the running process. */
  info: EnclaveInfo
  /**
   * Kills the enclave process and starts a new one on the same data directory (its sealed files
   * stay, unless `whileDown` changes them: e.g. copies older sealed files back).
   */
  restart(whileDown?: () => Promise<void>): Promise<EnclaveInfo>
  stop(): Promise<void>
}

async function spawn(config: EnclaveBoot): Promise<{ child: ChildProcess; caller: EnclaveCaller }> {
  if (!existsSync(MAIN)) throw new W3aError('INTERNAL', `no enclave entry at ${MAIN}`)
  // Under tsx (the test runner's --import) execArgv carries the loader into the child.
  const child = fork(MAIN, [], {
    serialization: 'advanced',
    env: { ...process.env, W3A_ENCLAVE_CONFIG: toJsonText(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new W3aError('INTERNAL', `enclave process exited during start (${code})`)))
    child.once('message', () => {
      child.removeAllListeners('exit')
      child.removeAllListeners('error')
      resolve()
    })
  })
  return { child, caller: createEnclaveCaller(child) }
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGKILL')
  await exited
}

/** Starts the real enclave process on `config.dataDir` (boot values as a worker host passes them) and calls its `init`. */
export async function startHostileHost(config: EnclaveBoot): Promise<HostileHost> {
  let { child, caller } = await spawn(config)
  const host: HostileHost = {
    info: await caller.call<EnclaveInfo>('init'),
    call: (method, params) => caller.call(method, params),
    async restart(whileDown) {
      await kill(child)
      await whileDown?.()
      ;({ child, caller } = await spawn(config))
      host.info = await caller.call<EnclaveInfo>('init')
      return host.info
    },
    stop: () => kill(child),
  }
  return host
}
