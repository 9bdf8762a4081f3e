import { openSync, writeSync, closeSync, readFileSync, unlinkSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { W3aError } from './errors.js'
import { processAlive } from './process-alive.js'

export type LockFile = { path: string; release(): void }


/**
 * Takes an exclusive lock by creating `path` with O_EXCL and writing our pid.
 * A lock left by a dead process (crash, kill -9) is taken over; a live holder is an error.
 */
export function acquireLockFile(path: string, what: string): LockFile {
  mkdirSync(dirname(path), { recursive: true })
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600)
      writeSync(fd, String(process.pid))
      closeSync(fd)
      let released = false
      return {
        path,
        release() {
          if (released) return
          released = true
          try {
            if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path)
          } catch {
            /* already gone */
          }
        },
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      const holder = Number.parseInt(readFileSync(path, 'utf8').trim(), 10)
      if (Number.isInteger(holder) && holder > 0 && processAlive(holder)) {
        throw new W3aError('DATA_DIR_IN_USE', `${what} is already in use by process ${holder}`, {
          details: [`lock file: ${path}`, 'Stop that process first, or pass another --data-dir.'],
        })
      }
      unlinkSync(path) // stale lock from a process that is gone
    }
  }
  throw new W3aError('DATA_DIR_IN_USE', `could not lock ${what}`, { details: [`lock file: ${path}`] })
}
