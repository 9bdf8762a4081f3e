/**
 * What `w3a agent` keeps on the respondent's own machine (Node only; a browser app keeps the same
 * three things in its own storage): the device's data, its secret, and the campaigns it answered.
 *
 *   DIR/*.json        rows: an array of objects, or one object (one row)
 *   DIR/*.csv         rows: a header line, then comma-separated values (numbers read as numbers)
 *   STATE/device.key  32 random bytes, hex (mode 600): the one-time tokens come from it
 *   STATE/answered.json  { "<campaigns contract>:<id>": { answer, at } }: answered once, never again
 *
 * Nothing here leaves the machine: the agent sends only sealed answers.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { W3aError } from '../core/errors.js'
import { writeFileAtomic } from '../core/atomic-write.js'
import type { UnitRow } from '../analysis/unit-function/sandbox.js'

function cell(v: string): string | number | boolean | null {
  const t = v.trim()
  if (t === '') return null
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t)) return Number(t)
  return t
}

/** The device's rows from DIR (its .json and .csv files, in name order). */
export function readDeviceRows(dir: string): UnitRow[] {
  if (!existsSync(dir)) throw new W3aError('INVALID_ARGUMENT', `--data ${dir} does not exist`, { details: ['Point --data at the folder that holds your own data (.json or .csv files).'] })
  const rows: UnitRow[] = []
  for (const f of readdirSync(dir).sort()) {
    const path = join(dir, f)
    if (f.endsWith('.json')) {
      let v: unknown
      try {
        v = JSON.parse(readFileSync(path, 'utf8'))
      } catch (cause) {
        throw new W3aError('INPUT_MALFORMED', `${path} is not JSON`, { cause })
      }
      for (const r of Array.isArray(v) ? v : [v]) {
        if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new W3aError('INPUT_MALFORMED', `${path}: every row must be an object`)
        rows.push(r as UnitRow)
      }
    } else if (f.endsWith('.csv')) {
      const [header, ...lines] = readFileSync(path, 'utf8').split(/\r?\n/).filter((l) => l.trim() !== '')
      if (!header) continue
      const names = header.split(',').map((s) => s.trim())
      for (const line of lines) {
        const values = line.split(',')
        rows.push(Object.fromEntries(names.map((n, i) => [n, cell(values[i] ?? '')])))
      }
    }
  }
  if (rows.length === 0) throw new W3aError('INVALID_ARGUMENT', `--data ${dir} holds no rows (.json or .csv files)`)
  return rows
}

export type AgentState = {
  deviceSecret: Uint8Array
  answered(key: string): boolean
  record(key: string, answer: unknown): void
}

/** The agent's state folder: its device secret (made on first use) and what it answered. */
export function openAgentState(dir: string): AgentState {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const keyFile = join(dir, 'device.key')
  if (!existsSync(keyFile)) writeFileAtomic(keyFile, randomBytes(32).toString('hex'), 0o600)
  const deviceSecret = new Uint8Array(Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'hex'))
  if (deviceSecret.length !== 32) throw new W3aError('INPUT_MALFORMED', `${keyFile} is not a 32-byte hex secret`)
  const answeredFile = join(dir, 'answered.json')
  const answered = existsSync(answeredFile) ? (JSON.parse(readFileSync(answeredFile, 'utf8')) as Record<string, unknown>) : {}
  return {
    deviceSecret,
    answered: (key) => key in answered,
    record(key, answer) {
      answered[key] = { answer, at: new Date().toISOString() }
      writeFileAtomic(answeredFile, JSON.stringify(answered, null, 2))
    },
  }
}
