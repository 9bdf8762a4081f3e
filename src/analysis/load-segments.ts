/**
 * Brings a dataset's encrypted segments into plaintext Parquet files: anonymous memory files
 * (memory-files.ts) in the worker enclave, which writes no plaintext to storage, or files in a
 * private directory the caller owns (the owner's temp dir on download):
 *
 *   fetch the segment's CAR → read it as a stream (storage/car-file.ts): every block checked
 *   against its CID as it arrives, in its place in the DAG the segment CID names, none missing →
 *   decrypt chunk by chunk (a chunk's plaintext exists only after its tag verified) → a memory
 *   file, or `segment-<i>.parquet`, mode 0600.
 *
 * Nothing holds a whole segment: fetch, hashing, decryption and writes go along together, a few
 * MiB in flight (an envelope chunk, a write batch). Segments are processed `concurrency` at a
 * time (network waits of one overlap the hashing and AES of another); the returned files are in
 * manifest order whatever order they finish in.
 * All or nothing: on the first failure the other segments stop, every file written so far is
 * removed (memory files: the caller's `close()` frees them), and the error (its code kept: BLOCK_HASH_MISMATCH, CAR_MALFORMED,
 * ENVELOPE_AUTH_FAILED, …) names the segment. A file holds only plaintext of chunks that
 * authenticated, from blocks that matched their CIDs, even while it is being written.
 *
 * Copies: leaves go from the network buffers to the decipher as views, and the decipher's
 * output buffers are written to the file as they are (gathered writes), then wiped.
 */
import { open, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { W3aError, isW3aError } from '../core/errors.js'
import { decryptSegmentStream } from '../crypto/envelope.js'
import { readCarFile, UNIXFS_CHUNK_SIZE, type DatasetManifest } from '../storage/index.js'
import type { MemoryFiles } from './memory-files.js'

export type LoadSegmentsProgress = { done: number; total: number; bytes: number }

export type LoadSegmentsParameters = {
  /** Only the dataset id (bound into every chunk's AAD) and the segment list are used. */
  manifest: Pick<DatasetManifest, 'datasetId' | 'segments'>
  /** The dataset key (DEK). Not wiped here: it belongs to the caller. */
  dek: Uint8Array
  /** A CARv1 of the segment's DAG (e.g. a trustless gateway's `/ipfs/{cid}?format=car`). Untrusted. */
  fetchCar: (cid: CID) => Promise<AsyncIterable<Uint8Array>> | AsyncIterable<Uint8Array>
  /** Existing private directory the Parquet files go into; no `segment-<i>.parquet` may exist there yet. */
  dir?: string
  /** Instead of `dir`: memory files of the caller's set (kept open; the set's `close()` frees them). */
  memory?: MemoryFiles
  /** Segments in flight at once (default 4). */
  concurrency?: number
  /** Called after each segment is written (`done` segments so far, `bytes` of plaintext so far). */
  onProgress?: (p: LoadSegmentsProgress) => void
}

export type LoadSegmentsReturnType = {
  /** Paths DuckDB can open (`/proc/self/fd/<n>` or `dir/segment-<i>.parquet`), in manifest order. */
  files: string[]
  /** Plaintext bytes written. */
  bytes: number
}

export const DEFAULT_LOAD_CONCURRENCY = 4

/** Plaintext gathered before one `writev`: few syscalls, bounded memory per segment. */
const WRITE_BATCH_BYTES = 8 * 1024 * 1024

/**
 * CAR bytes allowed per envelope byte: a section prefix (~40 bytes) per 256 KiB leaf and its
 * dag-pb link (~60 bytes), plus the header and the dag-pb nodes, are far below these bounds.
 * The segment's size comes from the manifest, which is itself content-addressed.
 */
const CAR_OVERHEAD_PER_LEAF = 512
const CAR_OVERHEAD_FIXED = 1024 * 1024

/** Thrown into the other segments' loops once one segment failed; never reported. */
class Stopped extends Error {}

export async function loadSegments(params: LoadSegmentsParameters): Promise<LoadSegmentsReturnType> {
  const { manifest, dek, fetchCar, dir, memory, onProgress } = params
  if ((dir === undefined) === (memory === undefined)) throw new W3aError('INVALID_ARGUMENT', 'loadSegments needs one target: dir or memory')
  const concurrency = params.concurrency ?? DEFAULT_LOAD_CONCURRENCY
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new W3aError('INVALID_ARGUMENT', `concurrency must be a positive integer, got ${concurrency}`)
  }
  const segments = manifest.segments
  const total = segments.length
  const files = segments.map((_, i) => (dir !== undefined ? join(dir, `segment-${i}.parquet`) : ''))
  const created: string[] = []
  let failure: { error: unknown } | undefined
  let next = 0
  let done = 0
  let bytes = 0

  const stopCheck = (): void => {
    if (failure !== undefined) throw new Stopped()
  }

  /** Passes the CAR through, stopping (and so cancelling the fetch) once another segment failed. */
  async function* guarded(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const piece of source) {
      stopCheck()
      yield piece
    }
  }

  async function loadOne(index: number): Promise<void> {
    const seg = segments[index]!
    const leaves = Math.ceil(seg.size / UNIXFS_CHUNK_SIZE)
    const maxBytes = seg.size + leaves * CAR_OVERHEAD_PER_LEAF + CAR_OVERHEAD_FIXED
    const car = await fetchCar(seg.cid)
    stopCheck()

    let fh: FileHandle
    if (memory === undefined) {
      fh = await open(files[index]!, 'wx', 0o600)
      created.push(files[index]!)
    } else {
      const file = await memory.create()
      fh = file.handle
      files[index] = file.path
    }
    let written = 0
    try {
      let batch: Uint8Array[] = []
      let batchBytes = 0
      const context = { datasetId: manifest.datasetId, segmentIndex: index }
      const ciphertext = readCarFile(guarded(car), { root: seg.cid, size: seg.size, maxBytes })
      for await (const plaintext of decryptSegmentStream({ key: dek, context }, ciphertext)) {
        batch.push(plaintext)
        batchBytes += plaintext.length
        if (batchBytes >= WRITE_BATCH_BYTES) {
          stopCheck()
          written += await writeAll(fh, batch, batchBytes)
          batch = []
          batchBytes = 0
        }
      }
      stopCheck()
      written += await writeAll(fh, batch, batchBytes)
    } finally {
      // A memory file has no name but its descriptor: closing it would free it.
      if (memory === undefined) await fh.close()
    }
    bytes += written
    done++
    onProgress?.({ done, total, bytes })
  }

  async function lane(): Promise<void> {
    while (failure === undefined && next < total) {
      const index = next++
      try {
        await loadOne(index)
      } catch (e) {
        // Another segment failed first: this one was stopped (maybe wrapped by the CAR reader).
        if (e instanceof Stopped || failure !== undefined) return
        failure ??= { error: segmentError(index, segments[index]!.cid, e) }
        return
      }
    }
  }

  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, lane))
  if (failure !== undefined) {
    await Promise.all(created.map((f) => rm(f, { force: true })))
    throw failure.error
  }
  return { files, bytes }
}

/** Writes the buffers in one gathered write (looping on short writes), then wipes them. */
async function writeAll(fh: FileHandle, buffers: Uint8Array[], length: number): Promise<number> {
  if (length === 0) return 0
  let left = buffers
  let remaining = length
  try {
    for (;;) {
      const { bytesWritten } = await fh.writev(left)
      remaining -= bytesWritten
      if (remaining <= 0) break
      left = skip(left, bytesWritten)
    }
  } finally {
    for (const b of buffers) b.fill(0)
  }
  return length
}

/** The buffers after their first `n` bytes (views, no copy). */
function skip(buffers: Uint8Array[], n: number): Uint8Array[] {
  let i = 0
  while (i < buffers.length && n >= buffers[i]!.length) n -= buffers[i++]!.length
  const rest = buffers.slice(i)
  if (rest.length > 0 && n > 0) rest[0] = rest[0]!.subarray(n)
  return rest
}

/** The same error code, with the segment named in the message. */
function segmentError(index: number, cid: CID, e: unknown): W3aError {
  const where = `Segment ${index} (${cid})`
  if (isW3aError(e)) return new W3aError(e.code, `${where}: ${e.shortMessage}`, { details: e.details, docsPath: e.docsPath, cause: e })
  if ((e as NodeJS.ErrnoException)?.code === 'EEXIST') return new W3aError('INVALID_ARGUMENT', `${where}: its output file already exists in the target directory`, { cause: e })
  const message = String((e as Error)?.message ?? e)
  return new W3aError('INTERNAL', `${where} could not be loaded`, { details: [message.split('\n')[0]!.slice(0, 300)], cause: e })
}
