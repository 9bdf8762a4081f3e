import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The code a worker's measurement covers: the compiled tree this process runs from
 * (`dist/` when built, `src/` under tsx). Any change to it changes the measurement, so a
 * modified worker is not on the network's allow-list.
 */
export function enclaveBundleDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..')
}
