/**
 * The ingest enclave's write-ahead log: an event is acknowledged only after the frame holding
 * it is sealed (AES-GCM under the sealing key, label below) and fsynced. Group commit: one frame
 * is written and fsynced at a time, off the event loop; appends that arrive meanwhile wait
 * together for the next frame, so under load one fsync carries many events.
 *
 * File: `<dataDir>/enclave/ingest/events.wal`, frames of u32 (big-endian) length ‖ sealed bytes;
 * sealed plaintext = JSON { i: frame index, rows }. Frame indexes must run 0, 1, 2, … on replay:
 * a host that drops, repeats or reorders frames is caught (INGEST_LOG_BROKEN); a torn last frame
 * (a crash mid-write) was never acknowledged and is cut off.
 * The rows hold only derived labels (ingest-enrich.ts): no IP, no user agent, no full URL.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, truncateSync, writeSync } from 'node:fs'
import { fdatasync as fdatasyncCb, write as writeCb } from 'node:fs'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { W3aError } from '../core/errors.js'
import { seal, unseal } from '../tee/index.js'

export const INGEST_LOG_LABEL = 'w3a/enclave/ingest-log/v1'
/** Rows per frame when the log is rewritten. */
const REWRITE_FRAME_ROWS = 10_000

const fdatasync = promisify(fdatasyncCb)
const write = promisify(writeCb)

async function writeAll(fd: number, bytes: Buffer): Promise<void> {
  for (let at = 0; at < bytes.length; ) at += (await write(fd, bytes, at, bytes.length - at)).bytesWritten
}

export class IngestLog<Row> {
  private readonly path: string
  private fd: number | undefined
  private next = 0
  /** Rows waiting for the next frame, and the promise their appends wait on. */
  private batch: { rows: Row[]; done: Promise<void>; resolve(): void; reject(e: unknown): void } | undefined
  /** The frame being written (and its successors), while any. */
  private writing: Promise<void> | undefined
  /** Set when a frame could not be written: the file may end in a torn frame, so nothing more is acknowledged. */
  private failed: unknown

  /** `label`: the seal label of its frames (another kind of log, e.g. a campaign's answers, has its own, so one file cannot pass for the other). */
  constructor(dir: string, private readonly key: Uint8Array, private readonly label: string = INGEST_LOG_LABEL) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    this.path = join(dir, 'events.wal')
  }

  /** Reads every acknowledged row back (after a restart), then opens the log for appends. */
  replay(): Row[] {
    const rows = this.read()
    this.fd = openSync(this.path, 'a', 0o600)
    return rows
  }

  /** Every row in the log file (checking frame order; a torn tail is cut off). */
  private read(): Row[] {
    const rows: Row[] = []
    this.next = 0
    if (existsSync(this.path)) {
      const bytes = readFileSync(this.path)
      let at = 0
      while (at + 4 <= bytes.length) {
        const len = bytes.readUInt32BE(at)
        if (at + 4 + len > bytes.length) break // torn tail: never acknowledged
        const frame = JSON.parse(new TextDecoder().decode(unseal(this.key, bytes.subarray(at + 4, at + 4 + len), { label: this.label }))) as { i: number; rows: Row[] }
        if (frame.i !== this.next) throw new W3aError('INGEST_LOG_BROKEN', `ingest log frame ${frame.i} found where frame ${this.next} belongs`, { details: ['The host changed the sealed log: frames were dropped, repeated or reordered.'] })
        rows.push(...frame.rows)
        this.next++
        at += 4 + len
      }
      if (at < bytes.length) truncateSync(this.path, at)
    }
    return rows
  }

  /**
   * Rewrites the log keeping only rows for which `keep` holds (a visitor's deletion): a new
   * sealed file, fsynced, renamed over the old one. The caller makes sure no append is pending.
   * Returns how many rows were removed.
   */
  async rewrite(keep: (row: Row) => boolean): Promise<number> {
    while (this.writing) await this.writing
    if (this.batch) throw new W3aError('INTERNAL', 'ingest log rewrite while appends are pending')
    this.close()
    const all = this.read()
    const kept = all.filter(keep)
    const tmp = `${this.path}.tmp`
    const fd = openSync(tmp, 'w', 0o600)
    this.next = 0
    for (let i = 0; i < kept.length || i === 0; i += REWRITE_FRAME_ROWS) writeSync(fd, this.frame(kept.slice(i, i + REWRITE_FRAME_ROWS)))
    fsyncSync(fd)
    closeSync(fd)
    renameSync(tmp, this.path)
    const dir = openSync(dirname(this.path), 'r')
    fsyncSync(dir)
    closeSync(dir)
    this.fd = openSync(this.path, 'a', 0o600)
    return all.length - kept.length
  }

  /** One sealed frame (u32 length ‖ sealed { i, rows }), numbered next. */
  private frame(rows: Row[]): Buffer {
    const sealed = seal(this.key, new TextEncoder().encode(JSON.stringify({ i: this.next++, rows })), { label: this.label })
    const frame = Buffer.alloc(4 + sealed.length)
    frame.writeUInt32BE(sealed.length, 0)
    frame.set(sealed, 4)
    return frame
  }

  /** Resolves once `rows` are sealed and on disk (rejects if that write failed: they were not acknowledged). */
  append(rows: Row[]): Promise<void> {
    if (this.failed) return Promise.reject(new W3aError('INTERNAL', 'the ingest log could not be written; restart the worker (acknowledged events are kept)', { cause: this.failed }))
    if (!this.batch) {
      let resolve!: () => void
      let reject!: (e: unknown) => void
      const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)))
      this.batch = { rows: [], done, resolve, reject }
    }
    const { done } = this.batch
    for (const r of rows) this.batch.rows.push(r)
    this.writing ??= this.drain()
    return done
  }

  /** Writes batches one frame at a time until none is waiting. */
  private async drain(): Promise<void> {
    await Promise.resolve() // appends of this turn join the first frame
    while (this.batch) {
      const b = this.batch
      this.batch = undefined
      try {
        if (this.fd === undefined) throw new W3aError('INTERNAL', 'ingest log not opened (replay first)')
        const frame = this.frame(b.rows)
        await writeAll(this.fd, frame)
        await fdatasync(this.fd)
        b.resolve()
      } catch (e) {
        this.failed = e
        b.reject(e)
      }
    }
    this.writing = undefined
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }
}
