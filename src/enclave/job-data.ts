/**
 * A job's decrypted dataset, in the worker enclave's memory only (memory-files.ts): fetched from
 * storage, every block checked against its CID, decrypted with the released DEK into anonymous
 * memory files that DuckDB scans in place.
 *
 * `createJobDataCache` keeps the decrypted segments of recently used datasets between jobs (an
 * analyst session runs many jobs on one dataset), under rules that keep crypto-shredding true:
 * - keyed by manifest CID, and found only by a job that holds a fresh key release for it: the
 *   caller passes the DEK it just opened, and an entry is used only if it was decrypted with that
 *   same key (compared by a digest kept in enclave memory);
 * - dropped at once when a keeper refuses a job because the dataset is deleted (`dropDataset`),
 *   on an epoch change (`clear`), and after `idleMs` without a job;
 * - bounded by `maxBytes` of plaintext (least recently used dropped first);
 * - used only while unaltered: DuckDB scans the files in place and could write them if SQL got
 *   past the checker, so a file written since decryption (its ctime moved) is never reused.
 * Dropping frees the memory files as soon as no running job holds them.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import type { CID } from 'multiformats/cid'
import { createMemoryFiles, loadSegments, type LoadSegmentsParameters } from '../analysis/index.js'
import type { DatasetManifest } from '../storage/index.js'

export type OpenJobDataParameters = {
  /** The manifest custody holds for the dataset (the job's input). */
  manifestCid: string
  manifest: Pick<DatasetManifest, 'datasetId' | 'segments'>
  /** The DEK of this job's key release. Not kept, not wiped here. */
  dek: Uint8Array
  fetchCar: (cid: CID) => ReturnType<LoadSegmentsParameters['fetchCar']>
  /** A memory file system (default /dev/shm; tests). */
  memoryDir?: string
}

export type JobData = {
  /** Paths DuckDB opens (`/proc/self/fd/<n>`), in manifest order; valid until `release()`. */
  files: string[]
  /** Plaintext bytes. */
  bytes: number
  /** Whether the segments were already in memory (no fetch, no decryption). */
  cached: boolean
  /** The job is done with the files. */
  release(): Promise<void>
  /** False if a file was written after decryption (memory-files.ts `intact`). */
  intact(): Promise<boolean>
}

/** Fetch, verify, decrypt into memory; `release()` frees it all. */
export async function openJobData(p: OpenJobDataParameters): Promise<JobData> {
  const memory = createMemoryFiles(p.memoryDir)
  try {
    const { files, bytes } = await loadSegments({ manifest: p.manifest, dek: p.dek, fetchCar: p.fetchCar, memory })
    await memory.seal()
    return { files, bytes, cached: false, release: () => memory.close(), intact: () => memory.intact() }
  } catch (e) {
    await memory.close()
    throw e
  }
}

export type JobDataCache = {
  /** The dataset's decrypted segments: kept ones if decrypted with this very key, else freshly opened (and kept). */
  open(p: OpenJobDataParameters): Promise<JobData>
  /** Drops every entry of a dataset (deleted). */
  dropDataset(datasetId: string): Promise<void>
  /** The datasets with decrypted segments kept. */
  datasets(): string[]
  /** Drops everything (an epoch change). */
  clear(): Promise<void>
}

export const DEFAULT_CACHE_IDLE_MS = 10 * 60_000
export const DEFAULT_CACHE_MAX_BYTES = 2 * 1024 ** 3

type Entry = { datasetId: string; keyDigest: string; data: JobData; users: number; lastUsed: number; dropped: boolean }

export function createJobDataCache(opts: { idleMs?: number; maxBytes?: number; now?: () => number } = {}): JobDataCache {
  const idleMs = opts.idleMs ?? DEFAULT_CACHE_IDLE_MS
  const maxBytes = opts.maxBytes ?? DEFAULT_CACHE_MAX_BYTES
  const now = opts.now ?? Date.now
  const entries = new Map<string, Entry>()
  const opening = new Map<string, Promise<Entry>>()

  /** Frees an entry now, or when its last running job releases it. */
  const drop = async (cid: string, e: Entry): Promise<void> => {
    if (entries.get(cid) === e) entries.delete(cid)
    e.dropped = true
    if (e.users === 0) await e.data.release()
  }
  const sweep = async (): Promise<void> => {
    const t = now()
    for (const [cid, e] of entries) if (e.users === 0 && t - e.lastUsed > idleMs) await drop(cid, e)
    let total = [...entries.values()].reduce((s, e) => s + e.data.bytes, 0)
    for (const [cid, e] of [...entries].sort((a, b) => a[1].lastUsed - b[1].lastUsed)) {
      if (total <= maxBytes) break
      if (e.users > 0) continue
      total -= e.data.bytes
      await drop(cid, e)
    }
  }
  // The idle limit holds even when no job comes: a timer that does not keep the process alive.
  const timer = setInterval(() => void sweep(), Math.min(idleMs, 60_000))
  timer.unref()

  const lease = (cid: string, e: Entry): JobData => {
    e.users++
    e.lastUsed = now()
    let released = false
    return {
      files: e.data.files,
      bytes: e.data.bytes,
      cached: true,
      intact: () => e.data.intact(),
      release: async () => {
        if (released) return
        released = true
        e.users--
        e.lastUsed = now()
        if (e.dropped && e.users === 0) await e.data.release()
        else await sweep()
      },
    }
  }

  return {
    async open(p) {
      await sweep()
      const keyDigest = bytesToHex(sha256(p.dek))
      const kept = entries.get(p.manifestCid)
      // Kept segments serve a job only if decrypted with this job's released key and unaltered since.
      if (kept && kept.keyDigest === keyDigest && kept.datasetId === p.manifest.datasetId.toLowerCase() && (await kept.data.intact())) return lease(p.manifestCid, kept)
      if (kept) await drop(p.manifestCid, kept)
      // Two jobs on one dataset arriving together decrypt it once.
      const key = `${p.manifestCid}/${keyDigest}`
      let pending = opening.get(key)
      const mine = pending === undefined
      if (!pending) {
        pending = openJobData(p).then((data): Entry => ({ datasetId: p.manifest.datasetId.toLowerCase(), keyDigest, data, users: 0, lastUsed: now(), dropped: false }))
        opening.set(key, pending)
      }
      let e: Entry
      try {
        e = await pending
      } finally {
        opening.delete(key)
      }
      if (!entries.has(p.manifestCid) && !e.dropped) entries.set(p.manifestCid, e)
      const data = lease(p.manifestCid, e)
      return mine ? { ...data, cached: false } : data
    },
    async dropDataset(datasetId) {
      for (const [cid, e] of [...entries]) if (e.datasetId === datasetId.toLowerCase()) await drop(cid, e)
    },
    datasets() {
      return [...new Set([...entries.values()].map((e) => e.datasetId))]
    },
    async clear() {
      for (const [cid, e] of [...entries]) await drop(cid, e)
    },
  }
}
