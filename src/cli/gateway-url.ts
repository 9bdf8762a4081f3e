/**
 * Which gateway a command talks to, in this order:
 *
 *   1. `--gateway URL`
 *   2. `$W3A_GATEWAY`
 *   3. the `run.json` that `w3a up` writes into its data dir (`--data-dir DIR`, else
 *      `$W3A_DATA_DIR`, else `.w3a`), while the pid in it is alive: `w3a up --port 0` works
 *   4. http://127.0.0.1:8787, the default port of `w3a up`
 *
 * A run file whose `w3a up` died without cleaning up (kill -9) is skipped, and said so.
 */
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { dataDirLayout, DEFAULT_DATA_DIR, DEFAULT_GATEWAY_PORT } from '../core/data-dir.js'
import type { RunFile } from '../node/up.js'
import { processAlive } from '../core/process-alive.js'

export const DEFAULT_GATEWAY_URL = `http://127.0.0.1:${DEFAULT_GATEWAY_PORT}`

export type GatewaySource = 'flag' | 'env' | 'run-file' | 'default'

export type ResolveGatewayUrlParameters = {
  /** The `--gateway` value, if given. */
  flag?: string | undefined
  /** The `--data-dir` value, if given. */
  dataDir?: string | undefined
  /** Default: process.env (W3A_GATEWAY, W3A_DATA_DIR). */
  env?: Readonly<Record<string, string | undefined>>
  /** Default: a signal-0 probe of the pid. */
  isAlive?: (pid: number) => boolean
}

export type ResolveGatewayUrlReturnType = {
  url: string
  source: GatewaySource
  /** The run file that was read (source 'run-file') or skipped as stale. */
  runFile?: string
  /** For people, when the URL is not the one they typed nor the default one (stderr). */
  note?: string
}

export function resolveGatewayUrl(params: ResolveGatewayUrlParameters = {}): ResolveGatewayUrlReturnType {
  const env = params.env ?? process.env
  if (params.flag !== undefined && params.flag !== '') return { url: params.flag, source: 'flag' }
  const fromEnv = env['W3A_GATEWAY']
  if (fromEnv !== undefined && fromEnv !== '') return { url: fromEnv, source: 'env', note: `using gateway ${fromEnv} (from $W3A_GATEWAY)` }

  const dataDir = nonEmpty(params.dataDir) ?? nonEmpty(env['W3A_DATA_DIR']) ?? DEFAULT_DATA_DIR
  const runFile = dataDirLayout(dataDir).runFile
  const shown = relative(process.cwd(), runFile) || runFile
  const run = readRunFile(runFile)
  if (run) {
    if ((params.isAlive ?? processAlive)(run.pid)) {
      return { url: run.gatewayUrl, source: 'run-file', runFile, note: `using gateway ${run.gatewayUrl} (from ${shown})` }
    }
    return {
      url: DEFAULT_GATEWAY_URL,
      source: 'default',
      runFile,
      note: `skipping ${shown}: the w3a up that wrote it (pid ${run.pid}) is not running; trying ${DEFAULT_GATEWAY_URL}`,
    }
  }
  return { url: DEFAULT_GATEWAY_URL, source: 'default' }
}

/** The run file's pid and gateway URL, or undefined when absent or not a run file. */
function readRunFile(file: string): Pick<RunFile, 'pid' | 'gatewayUrl'> | undefined {
  let json: unknown
  try {
    json = JSON.parse(readFileSync(file, 'utf8'))
  } catch {
    return undefined
  }
  const r = json as { pid?: unknown; gatewayUrl?: unknown }
  if (typeof r?.gatewayUrl !== 'string' || r.gatewayUrl === '' || !Number.isSafeInteger(r.pid) || (r.pid as number) <= 0) return undefined
  return { pid: r.pid as number, gatewayUrl: r.gatewayUrl }
}


function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s
}
