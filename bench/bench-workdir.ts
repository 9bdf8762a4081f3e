import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startDevnet, type RunningDevnet, type UpParameters } from '../src/node/up.js'

/**
 * A benchmark's temp dir and the devnet it starts in it: `cleanup` stops the devnet and removes
 * the dir once, whether the bench ends, fails or is stopped with Ctrl-C.
 */
export async function benchWorkdir(prefix: string): Promise<{
  dir: string
  startDevnet(p: Omit<UpParameters, 'dataDir'>): Promise<RunningDevnet>
  cleanup(): Promise<void>
}> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  let devnet: RunningDevnet | undefined
  let cleaning: Promise<void> | undefined
  const cleanup = () =>
    (cleaning ??= (async () => {
      await devnet?.stop().catch((e: unknown) => console.error(`devnet stop failed: ${(e as Error).message}`))
      await rm(dir, { recursive: true, force: true })
    })())
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)))
  return { dir, cleanup, startDevnet: async (p) => (devnet = await startDevnet({ ...p, dataDir: join(dir, 'devnet') })) }
}
