/**
 * The ingest enclave's write-ahead log: an event is acknowledged only after the frame holding
 * it is sealed (AES-GCM under the sealing key, label below) and fsynced. Appends that arrive
 * together share one frame and one fsync (group commit).
 *
 * File: `<dataDir>/enclave/ingest/events.wal`, frames of u32 (big-endian) length ‖ sealed bytes;
 * sealed plaintext = JSON { i: frame index, rows }. Frame indexes must run 0, 1, 2, … on replay:
 * a host that drops, repeats or reorders frames is caught (INGEST_LOG_BROKEN); a torn last frame
 * (a crash mid-write) was never acknowledged and is cut off.
 * The rows hold only derived labels (ingest-enrich.ts): no IP, no user agent, no full URL.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, truncateSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { W3aError } from '../core/errors.js'
import { seal, unseal } from '../tee/index.js'

export const INGEST_LOG_LABEL = 'w3a/enclave/ingest-log/v1'
/** Rows per frame when the log is rewritten. */
const REWRITE_FRAME_ROWS = 10_000

export class IngestLog<Row> {
  private readonly path: string
  private fd: number | undefined
  private next = 0
  private pending: Row[] = []
  private flushing: Promise<void> | undefined

  constructor(dir: string, private readonly key: Uint8Array) {
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
        const frame = JSON.parse(new TextDecoder().decode(unseal(this.key, bytes.subarray(at + 4, at + 4 + len), { label: INGEST_LOG_LABEL }))) as { i: number; rows: Row[] }
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
  rewrite(keep: (row: Row) => boolean): number {
    if (this.pending.length || this.flushing) throw new W3aError('INTERNAL', 'ingest log rewrite while appends are pending')
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
    const sealed = seal(this.key, new TextEncoder().encode(JSON.stringify({ i: this.next++, rows })), { label: INGEST_LOG_LABEL })
    const frame = Buffer.alloc(4 + sealed.length)
    frame.writeUInt32BE(sealed.length, 0)
    frame.set(sealed, 4)
    return frame
  }

  /** Resolves once `rows` are sealed and on disk. */
  append(rows: Row[]): Promise<void> {
    this.pending.push(...rows)
    return (this.flushing ??= Promise.resolve().then(() => this.flush()))
  }

  private flush(): void {
    this.flushing = undefined
    if (this.fd === undefined) throw new W3aError('INTERNAL', 'ingest log not opened (replay first)')
    const rows = this.pending
    this.pending = []
    writeSync(this.fd, this.frame(rows))
    fsyncSync(this.fd)
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }
}
