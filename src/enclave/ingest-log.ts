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
 * Once rows are in a confirmed segment of their site's dataset, `compact` rewrites the log with
 * only the rows still waiting (a new file renamed over the old one, so a crash leaves either).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, truncateSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { W3aError } from '../core/errors.js'
import { seal, unseal } from '../tee/index.js'

export const INGEST_LOG_LABEL = 'w3a/enclave/ingest-log/v1'

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
    const rows: Row[] = []
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
    this.fd = openSync(this.path, 'a', 0o600)
    return rows
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
    writeSync(this.fd, this.frame(this.next, rows))
    fsyncSync(this.fd)
    this.next++
  }

  private frame(i: number, rows: Row[]): Buffer {
    const sealed = seal(this.key, new TextEncoder().encode(JSON.stringify({ i, rows })), { label: INGEST_LOG_LABEL })
    const frame = Buffer.alloc(4 + sealed.length)
    frame.writeUInt32BE(sealed.length, 0)
    frame.set(sealed, 4)
    return frame
  }

  /**
   * Replaces the log with `keep` (the rows not yet in a confirmed segment), synchronously: no
   * append interleaves. Rows appended but not yet written stay pending and go to the new file.
   */
  compact(keep: Row[]): void {
    if (this.fd === undefined) throw new W3aError('INTERNAL', 'ingest log not opened (replay first)')
    const tmp = `${this.path}.compact`
    const fd = openSync(tmp, 'w', 0o600)
    try {
      if (keep.length > 0) writeSync(fd, this.frame(0, keep))
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, this.path)
    const dir = openSync(join(this.path, '..'), 'r')
    try {
      fsyncSync(dir)
    } finally {
      closeSync(dir)
    }
    closeSync(this.fd)
    this.fd = openSync(this.path, 'a', 0o600)
    this.next = keep.length > 0 ? 1 : 0
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }
}
