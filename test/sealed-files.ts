import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

/** The one version of a sealed state file an enclave keeps under `<workerDir>/enclave` (src/enclave/sealed-head.ts: `<name>.<seq>.sealed`). */
export function versionedSealedFile(workerDir: string, name: string): string {
  const files = readdirSync(join(workerDir, 'enclave')).filter((f) => new RegExp(`^${name}\\.\\d+\\.sealed$`).test(f))
  assert.equal(files.length, 1, `one ${name} file in ${workerDir}`)
  return join(workerDir, 'enclave', files[0]!)
}
