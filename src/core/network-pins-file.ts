/**
 * Where the CLI keeps its pinned networks: `networks.json` in the data dir (`--data-dir`,
 * else $W3A_DATA_DIR, else .w3a), the same place `w3a up` keeps its devnet, which it pins
 * there itself. Written atomically, mode 0600.
 */
import { readFileSync } from 'node:fs'
import { W3aError } from './errors.js'
import { writeFileAtomic } from './atomic-write.js'
import { dataDirLayout } from './data-dir.js'
import type { PinnedNetwork } from './network-pin.js'

type PinsFile = { version: 1; networks: Record<string, PinnedNetwork> }

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/

export function checkNetworkName(name: string): string {
  if (!NAME.test(name)) throw new W3aError('INVALID_ARGUMENT', `"${name}" is not a network name: use lower-case letters, digits, ".", "_" and "-" (up to 63)`)
  return name
}

export function readPins(dataDir: string): Record<string, PinnedNetwork> {
  const file = dataDirLayout(dataDir).networksFile
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return {}
  }
  try {
    const parsed = JSON.parse(text) as PinsFile
    if (parsed?.version !== 1 || typeof parsed.networks !== 'object' || parsed.networks === null) throw new Error('not a pins file')
    return parsed.networks
  } catch {
    throw new W3aError('INPUT_MALFORMED', `${file} is not a W3A networks file`, { details: ['Move it away and pin your networks again (`w3a network add NAME --gateway URL`).'] })
  }
}

function writePins(dataDir: string, networks: Record<string, PinnedNetwork>): void {
  writeFileAtomic(dataDirLayout(dataDir).networksFile, JSON.stringify({ version: 1, networks } satisfies PinsFile, null, 2) + '\n')
}

/** Adds or replaces the pin of that name. */
export function savePin(dataDir: string, pin: PinnedNetwork): void {
  writePins(dataDir, { ...readPins(dataDir), [checkNetworkName(pin.name)]: pin })
}

/** Removes a pin; false when there was none of that name. */
export function removePin(dataDir: string, name: string): boolean {
  const pins = readPins(dataDir)
  if (!(name in pins)) return false
  delete pins[name]
  writePins(dataDir, pins)
  return true
}

/** The pin for a gateway URL (trailing slashes ignored), if one was made from it. */
export function pinForGateway(dataDir: string, gatewayUrl: string): PinnedNetwork | undefined {
  const want = gatewayUrl.replace(/\/+$/, '')
  return Object.values(readPins(dataDir)).find((p) => p.gatewayUrl === want)
}
