/**
 * Plaintext that must never reach persistent storage, as files DuckDB can still open by path:
 * anonymous files (Linux O_TMPFILE | O_EXCL) on a memory file system (tmpfs/ramfs, checked with
 * statfs), named only through this process's own descriptor, `/proc/self/fd/<n>`.
 *
 * - No directory entry: a host watching any directory sees nothing, and O_EXCL forbids linking
 *   one in later.
 * - Memory only: tmpfs pages are RAM (in a TEE VM, the guest's encrypted RAM).
 * - Nothing to wipe after a crash: the kernel frees an anonymous file when its last descriptor
 *   closes, and a killed process's descriptors all close.
 *
 * `/proc/self` resolves to whichever process opens the path, so the paths are only meaningful
 * inside the process that made them (the enclave), and only until `close()`.
 */
import { constants, statfsSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { W3aError } from '../core/errors.js'

/** Where anonymous files go by default: the memory file system every Linux has. */
export const DEFAULT_MEMORY_DIR = '/dev/shm'

const TMPFS_MAGIC = 0x01021994
const RAMFS_MAGIC = 0x858458f6
/** Linux's O_TMPFILE (__O_TMPFILE | O_DIRECTORY); node:fs has no constant for it. */
const O_TMPFILE = 0o20000000 | constants.O_DIRECTORY

export type MemoryFile = { path: string; handle: FileHandle }

/** A set of anonymous memory files, freed together. */
export type MemoryFiles = {
  /** A new empty file, readable and writable by this process only. */
  create(): Promise<MemoryFile>
  /**
   * Records the files as they are now (written in full): `intact()` then tells whether any was
   * written since. A write changes a file's ctime, which no process can set back.
   */
  seal(): Promise<void>
  /** False if a file changed after `seal()` (SQL that got past the checker wrote into it). */
  intact(): Promise<boolean>
  /** Frees every file of the set (the memory goes back once DuckDB has closed its own descriptors too). */
  close(): Promise<void>
}

const checked = new Set<string>()

/** Refuses a directory that is not a memory file system: a disk there would keep the plaintext. */
function requireMemoryFs(dir: string): void {
  if (checked.has(dir)) return
  if (process.platform !== 'linux') throw unavailable(dir, `anonymous memory files need Linux (this is ${process.platform})`)
  let type: number
  try {
    type = Number(statfsSync(dir).type)
  } catch (cause) {
    throw unavailable(dir, 'it cannot be read', cause)
  }
  if (type !== TMPFS_MAGIC && type !== RAMFS_MAGIC) throw unavailable(dir, `it is not a tmpfs or ramfs (file system type 0x${type.toString(16)})`)
  checked.add(dir)
}

function unavailable(dir: string, why: string, cause?: unknown): W3aError {
  return new W3aError('PLAINTEXT_MEMORY_UNAVAILABLE', `Decrypted data can only be kept in memory, and ${dir} cannot hold it: ${why}`, {
    details: ['Mount a tmpfs at /dev/shm (Docker: --shm-size sized for the largest dataset a job reads).'],
    ...(cause === undefined ? {} : { cause }),
  })
}

export function createMemoryFiles(dir: string = DEFAULT_MEMORY_DIR): MemoryFiles {
  requireMemoryFs(dir)
  const open_: FileHandle[] = []
  let sealed: string[] | undefined
  const stamps = async () => Promise.all(open_.map(async (h) => {
    const st = await h.stat({ bigint: true })
    return `${st.ctimeNs}:${st.size}`
  }))
  return {
    async create() {
      let handle: FileHandle
      try {
        handle = await open(dir, O_TMPFILE | constants.O_EXCL | constants.O_RDWR, 0o600)
      } catch (cause) {
        throw unavailable(dir, `no anonymous file can be made there (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, cause)
      }
      open_.push(handle)
      return { path: `/proc/self/fd/${handle.fd}`, handle }
    },
    async seal() {
      sealed = await stamps()
    },
    async intact() {
      if (sealed === undefined) return false
      const now = await stamps()
      return now.length === sealed.length && now.every((x, i) => x === sealed![i])
    },
    async close() {
      const handles = open_.splice(0)
      await Promise.all(handles.map((h) => h.close().catch(() => undefined)))
    },
  }
}
