import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'

export type PartLog = { path: string; write(line: string): void; close(): void }

/**
 * A part's log file in the data dir (`logs/NAME.log`), appended across restarts, one
 * timestamped line per call. Writes are synchronous so the last lines before a crash are there.
 * Parts log host-side facts only (never keys or rows), so the file holds nothing secret.
 */
export function openPartLog(dir: string, name: string): PartLog {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const path = join(dir, `${name}.log`)
  let fd: number | undefined = openSync(path, 'a', 0o600)
  return {
    path,
    write(line) {
      if (fd !== undefined) writeSync(fd, `${new Date().toISOString()} ${line}\n`)
    },
    close() {
      if (fd !== undefined) closeSync(fd)
      fd = undefined
    },
  }
}
