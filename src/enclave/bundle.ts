import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Hex } from 'viem'
import { measureDirectory } from '../tee/index.js'

/**
 * The code a worker's measurement covers: the compiled tree this process runs from
 * (`dist/` when built, `src/` under tsx). Any change to it changes the measurement, so a
 * modified worker is not on the network's allow-list.
 */
export function enclaveBundleDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..')
}

/** Tests beside the modules are not code the enclave runs: editing one must not change the measurement. */
const isTestFile = (rel: string) => /\.test\.(ts|js|d\.ts|js\.map)$/.test(rel)

/** The measurement of this worker's code: every file of the bundle but the tests. */
export function measureEnclaveBundle(): Promise<Hex> {
  return measureDirectory(enclaveBundleDir(), (rel, isDirectory) => isDirectory || !isTestFile(rel))
}
