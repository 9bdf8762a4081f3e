import { resolve, join } from 'node:path'

export const DEFAULT_DATA_DIR = '.w3a'
export const DEFAULT_GATEWAY_PORT = 8787

/** Where each part of a node keeps its files inside one data directory (DESIGN §4). */
export type DataDirLayout = {
  root: string
  /** Exclusive lock held by a running `w3a up`. */
  lockFile: string
  /** URLs and pids of the running devnet, read by `w3a status`. */
  runFile: string
  /** Anvil's `--state` file: the whole chain, dumped on exit and periodically. */
  chainStateFile: string
  /** Contract addresses saved by the first deploy. */
  deploymentFile: string
  /** The storage node's persistent blockstore (ciphertext blocks only). */
  blocksDir: string
  /** The networks this data dir's CLI trusts (`w3a network add`; `w3a up` pins its own). */
  networksFile: string
  /** One log file per part (`up.log`, `worker-0.log`), appended across restarts. */
  logsDir: string
  /** The Stats API's settings per site of this CLI's accounts (goals, funnels): `<site id>.json`. */
  sitesDir: string
}

export function dataDirLayout(dir: string = DEFAULT_DATA_DIR): DataDirLayout {
  const root = resolve(dir)
  return {
    root,
    lockFile: join(root, 'up.lock'),
    runFile: join(root, 'run.json'),
    chainStateFile: join(root, 'chain', 'anvil-state.json'),
    deploymentFile: join(root, 'chain', 'deployment.json'),
    blocksDir: join(root, 'blocks'),
    networksFile: join(root, 'networks.json'),
    logsDir: join(root, 'logs'),
    sitesDir: join(root, 'sites'),
  }
}
