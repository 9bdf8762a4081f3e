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
import { keccak256, type Hex } from 'viem'
import { W3aError } from '../src/core/errors.js'
import { toJsonText } from '../src/core/json-text.js'
import { encodeKeeperAdmission } from '../src/custody/index.js'
import type { EnclaveInfo } from '../src/enclave/service.js'
import type { EnclaveBoot } from '../src/enclave/boot.js'
import type { WitnessReport, WitnessStatement } from '../src/enclave/witness-report.js'
import { createEnclaveCaller, type EnclaveCaller } from '../src/node/worker/enclave-caller.js'
import { DEV_ATTESTATION_SIGNER } from '../src/tee/index.js'

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

/** A keeper's host relays its enclave's witness statement to its peers and brings back their acknowledgements (what worker-host does after each save). */
export async function commitState(h: HostileHost, peers: HostileHost[]): Promise<{ committed: boolean }> {
  const statement = await h.call<WitnessStatement>('witnessStatement')
  const reports = await Promise.all(peers.map((p) => p.call<WitnessReport>('witness', { statement })))
  return h.call('acceptAcks', { reports })
}

/** The made-up network the enclave tests run on: a chain id and contract addresses no real deployment has. */
export const TEST_NETWORK = {
  chainId: 31337,
  registry: '0x00000000000000000000000000000000000000cc',
  inbox: '0x00000000000000000000000000000000000000dd',
  jobs: '0x00000000000000000000000000000000000000bb',
} as const

/** An enclave's boot config on TEST_NETWORK with sim allowed; `over` names what a test changes (its gateway, the epoch length). */
export function testEnclaveBoot(dataDir: string, over: Partial<EnclaveBoot> = {}): EnclaveBoot {
  return { dataDir, ...TEST_NETWORK, gatewayUrl: 'http://127.0.0.1:1', epochLength: '1000', allowSim: true, devAttestationSigner: DEV_ATTESTATION_SIGNER, ...over }
}

/**
 * A keeper admission inbox entry for `newcomer` (roles 3, sim), with the approvals its host got
 * from `approvers`' enclaves; `attestedAt` (unix seconds) must be near the enclaves' clock.
 */
export async function keeperAdmission(newcomer: HostileHost, approvers: HostileHost[], attestedAt: bigint): Promise<Uint8Array> {
  const i = newcomer.info
  const registration = { worker: i.address, teeType: 'sim', measurement: i.measurement, hpkePublicKey: i.hpkePublicKey, roles: 3, quote: i.quote }
  const approvals = await Promise.all(approvers.map(async (a) => (await a.call<{ signature: Hex }>('approveRegistration', { registration, attestedAt: Number(attestedAt) })).signature))
  return encodeKeeperAdmission({ worker: i.address, hpkePublicKey: i.hpkePublicKey, measurement: i.measurement, teeType: 'sim', roles: 3, attestationHash: keccak256(i.quote), attestedAt, quote: i.quote, approvals })
}
