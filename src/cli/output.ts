import { W3aError } from '../core/errors.js'
import { toJsonText } from '../core/json-text.js'

/** Where a command writes: results on stdout (text or JSON), progress and errors on stderr. */
export type Output = {
  json: boolean
  /** The command's result: `text` for people, `data` for --json. */
  result(data: unknown, text: string): void
  /** A progress line for long work (stderr, overwritten in place on a terminal). */
  progress(line: string): void
  /** An informational line for people (stderr when --json, so stdout stays parseable). */
  info(line: string): void
  /** How the command runs (which gateway, from where): stderr always, stdout stays for results. */
  note(line: string): void
}

export function createOutput(json: boolean): Output {
  const tty = process.stderr.isTTY === true
  let pending = false
  const clear = () => {
    if (pending) process.stderr.write('\r\x1b[K')
    pending = false
  }
  return {
    json,
    result(data, text) {
      clear()
      process.stdout.write((json ? toJsonText(data) : text) + '\n')
    },
    progress(line) {
      if (tty) {
        process.stderr.write(`\r\x1b[K${line}`)
        pending = true
      } else process.stderr.write(line + '\n')
    },
    info(line) {
      clear()
      ;(json ? process.stderr : process.stdout).write(line + '\n')
    },
    note(line) {
      clear()
      process.stderr.write(line + '\n')
    },
  }
}

/** Prints an error the way users and scripts expect; returns the exit code. */
export function reportError(e: unknown, json: boolean): number {
  const err =
    e instanceof W3aError ? e : new W3aError('INTERNAL', (e as Error)?.message ?? String(e), { details: ['This is a bug: please report it with the command you ran.'] })
  if (json) process.stdout.write(toJsonText(err.toJSON()) + '\n')
  process.stderr.write(`error [${err.code}]: ${err.message}\n`)
  return 1
}

/** Fixed-width table for people. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return '(none)'
  const cells = rows.map((r) => columns.map((c) => String(r[c] ?? '')))
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)))
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n')
}
