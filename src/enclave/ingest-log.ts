/**
 * The ingest enclave's write-ahead log: an event is acknowledged only after the frame holding
 * it is sealed (AES-GCM under the sealing key, label below) and fsynced. Group commit: one frame
 * is written and fsynced at a time, the fsync off the event loop; appends that arrive meanwhile wait
 * together for the next frame, so under load one fsync carries many events.
 *
 * File: `<dataDir>/enclave/ingest/events.<g>.wal`, one per generation `g` (a random id: every
 * rewrite — a compaction, a visitor's deletion — starts a new one), frames of u32 (big-endian)
 * length ‖ sealed bytes; sealed plaintext = JSON { g, i: frame index, rows } or, when every row
 * has the same keys (the event rows: one literal makes them all), JSON { g, i, keys, rows: the
 * values of each row in that order } (rowsJson: half the bytes to stringify, seal, hash, write
 * and fsync; both are read back). On replay every
 * frame must carry the file's generation and indexes must run 0, 1, 2, …: a host that drops,
 * repeats, reorders or splices in frames of an older generation is caught (INGEST_LOG_BROKEN);
 * a torn last frame (a crash mid-write) was never acknowledged and is cut off.
 *
 * Rollback (sealed-head.ts, freshness.ts): the enclave's sealed head pins a checkpoint of the log
 * (generation, frames, length, sha256 of those bytes). The hash runs along the appends (each frame
 * is hashed once, as it is written), so taking a checkpoint costs nothing and the append path does
 * no extra I/O; the head is saved with a new checkpoint at every rewrite and every site-book change.
 * A log shorter than, or different from, its pinned prefix is refused (STATE_ROLLED_BACK): a host
 * cannot bring back a log from before a deletion. Frames appended after the last checkpoint are
 * not pinned: a host can cut them (losing acknowledged events, as it could drop them in transit),
 * never replace them with older ones (the generation and index bind each frame to its place).
 * The rows hold only derived labels (ingest-enrich.ts): no IP, no user agent, no full URL.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto'
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, truncateSync, unlinkSync, writeSync } from 'node:fs'
import { fdatasync as fdatasyncCb } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import { seal, unseal } from '../tee/index.js'

export const INGEST_LOG_LABEL = 'w3a/enclave/ingest-log/v1'
/** Seal label of the log checkpoint as the sealed head pins it. */
export const INGEST_CHECKPOINT_LABEL = 'w3a/enclave/ingest-log-checkpoint/v1'
/** Rows per frame when the log is rewritten. */
const REWRITE_FRAME_ROWS = 10_000
const GEN_FILE = /^events\.([0-9a-f]{32})\.wal$/
/** The log file of versions before the checkpoint (frames without a generation): read once, then rewritten. */
const LEGACY_FILE = 'events.wal'

/** How far the log is pinned: its generation, frames and bytes, and the sha256 of those bytes. */
export type LogCheckpoint = { g: string; frames: number; length: number; hash: Hex }

export function encodeCheckpoint(c: LogCheckpoint): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ v: 1, ...c }))
}

export function decodeCheckpoint(bytes: Uint8Array): LogCheckpoint {
  const e = JSON.parse(new TextDecoder().decode(bytes)) as LogCheckpoint & { v: number }
  if (e.v !== 1) throw new W3aError('INPUT_MALFORMED', `unknown ingest log checkpoint version ${String(e.v)}`)
  return { g: e.g, frames: e.frames, length: e.length, hash: e.hash }
}

/**
 * A frame's rows in its JSON: each as the array of its values under the frame's `keys`, when
 * every row is a plain object with the same keys in the same order and no value that JSON drops
 * from an object but not from an array (undefined, a function); else (undefined) the rows as they are.
 */
function rowsAsValues(rows: readonly unknown[]): { keys: string[]; values: unknown[][] } | undefined {
  const first = rows[0]
  if (!isPlainObject(first)) return undefined
  const keys = Object.keys(first)
  if (keys.includes('__proto__')) return undefined
  const values: unknown[][] = new Array(rows.length)
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]
    if (!isPlainObject(row)) return undefined
    const v: unknown[] = new Array(keys.length)
    let j = 0
    for (const k in row) {
      const x = row[k]
      if (k !== keys[j] || x === undefined || typeof x === 'function' || typeof x === 'symbol') return undefined
      v[j++] = x
    }
    if (j !== keys.length) return undefined
    values[r] = v
  }
  return { keys, values }
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && Object.getPrototypeOf(x) === Object.prototype
}

/** The rows of a frame's JSON, either way it holds them (rowsAsValues). */
function rowsOfFrame<Row>(frame: { keys?: string[]; rows: unknown[] }): Row[] {
  const keys = frame.keys
  if (!keys) return frame.rows as Row[]
  return frame.rows.map((values) => {
    const row: Record<string, unknown> = {}
    for (let j = 0; j < keys.length; j++) row[keys[j]!] = (values as unknown[])[j]
    return row as Row
  })
}

const fdatasync = promisify(fdatasyncCb)

const rolledBack = (what: string) =>
  new W3aError('STATE_ROLLED_BACK', `the sealed ingest log is not the one the sealed head pins: ${what}`, {
    details: ['The host restored an older copy of the log or changed it; the enclave does not resume on it.'],
  })

export class IngestLog<Row> {
  private readonly dir: string
  private fd: number | undefined
  /** The current generation: its file, and the frames and bytes written (and fsynced) to it so far. */
  private g = ''
  private next = 0
  private length = 0
  private hash: Hash = createHash('sha256')
  /** Rows waiting for the next frame, and the promise their appends wait on. */
  private batch: { rows: Row[]; done: Promise<void>; resolve(): void; reject(e: unknown): void } | undefined
  /** The frame being written (and its successors), while any. */
  private writing: Promise<void> | undefined
  /** Set when a frame could not be written: the file may end in a torn frame, so nothing more is acknowledged. */
  private failed: unknown

  /** `label`: the seal label of its frames (another kind of log, e.g. a campaign's answers, has its own, so one file cannot pass for the other). */
  constructor(dir: string, private readonly key: Uint8Array, private readonly label: string = INGEST_LOG_LABEL) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    this.dir = dir
  }

  /**
   * Reads every acknowledged row back (after a restart), checking the log against the checkpoint
   * the sealed head pins, then opens it for appends. With none pinned (a first start, or a log of
   * an earlier version), the rows are written to a first generation and `pin` is called with it.
   */
  replay(pinned: LogCheckpoint | undefined, pin: (c: LogCheckpoint) => void): Row[] {
    let rows: Row[]
    if (pinned) {
      rows = this.read(pinned)
    } else {
      const legacy = join(this.dir, LEGACY_FILE)
      rows = existsSync(legacy) ? this.readFrames(readFileSync(legacy), undefined, legacy).rows : []
      this.writeGeneration(rows, pin)
      if (existsSync(legacy)) unlinkSync(legacy)
    }
    // Generations the head does not name: a crash mid-rewrite, or a host's copies.
    for (const name of readdirSync(this.dir)) if (GEN_FILE.exec(name)?.[1] !== undefined && name !== this.file(this.g)) unlinkSync(join(this.dir, name))
    this.fd = openSync(join(this.dir, this.file(this.g)), 'a', 0o600)
    return rows
  }

  /** Where the log stands: every frame written and fsynced so far (a running hash: no I/O). */
  checkpoint(): LogCheckpoint {
    return { g: this.g, frames: this.next, length: this.length, hash: `0x${this.hash.copy().digest('hex')}` }
  }

  private file(g: string): string {
    return `events.${g}.wal`
  }

  /** The pinned generation's rows: its first `length` bytes must hash to the pin; frames after it are appends since. */
  private read(pinned: LogCheckpoint): Row[] {
    const path = join(this.dir, this.file(pinned.g))
    if (!existsSync(path)) throw rolledBack(`its file (generation ${pinned.g.slice(0, 8)}…) is missing`)
    const bytes = readFileSync(path)
    if (bytes.length < pinned.length) throw rolledBack(`${bytes.length} bytes where ${pinned.length} were pinned`)
    const hash = createHash('sha256').update(bytes.subarray(0, pinned.length))
    if (`0x${hash.copy().digest('hex')}` !== pinned.hash) throw rolledBack('its pinned bytes differ')
    const out = this.readFrames(bytes, pinned.g, path)
    if (out.boundaries[pinned.frames] !== pinned.length) throw rolledBack(`frame ${pinned.frames} does not start where the pin ends`)
    this.g = pinned.g
    this.next = out.frames
    this.length = out.length
    this.hash = hash.update(bytes.subarray(pinned.length, out.length))
    return out.rows
  }

  /** Frames of one file (generation `g`; none: a legacy file), in order; a torn tail is cut off. */
  private readFrames(bytes: Buffer, g: string | undefined, path: string): { rows: Row[]; frames: number; length: number; boundaries: number[] } {
    const rows: Row[] = []
    const boundaries = [0]
    let at = 0
    let i = 0
    while (at + 4 <= bytes.length) {
      const len = bytes.readUInt32BE(at)
      if (at + 4 + len > bytes.length) break // torn tail: never acknowledged
      const frame = JSON.parse(new TextDecoder().decode(unseal(this.key, bytes.subarray(at + 4, at + 4 + len), { label: this.label }))) as { g?: string; i: number; keys?: string[]; rows: unknown[] }
      if (frame.g !== g || frame.i !== i) {
        throw new W3aError('INGEST_LOG_BROKEN', `ingest log frame ${frame.i}${frame.g !== g ? ' of another generation' : ''} found where frame ${i} belongs`, {
          details: ['The host changed the sealed log: frames were dropped, repeated, reordered or copied from an older log.'],
        })
      }
      for (const r of rowsOfFrame<Row>(frame)) rows.push(r)
      i++
      at += 4 + len
      boundaries.push(at)
    }
    if (at < bytes.length) truncateSync(path, at)
    return { rows, frames: i, length: at, boundaries }
  }

  /**
   * A new generation holding `rows`, fsynced, then pinned (`pin` saves the sealed head); only
   * then is the old generation removed, so a crash at any point leaves the pinned one whole.
   */
  private writeGeneration(rows: Row[], pin: (c: LogCheckpoint) => void): void {
    const g = randomBytes(16).toString('hex')
    const path = join(this.dir, this.file(g))
    const fd = openSync(path, 'w', 0o600)
    const hash = createHash('sha256')
    let length = 0
    let i = 0
    try {
      for (let at = 0; at < rows.length || at === 0; at += REWRITE_FRAME_ROWS) {
        const frame = this.frame(g, i++, rows.slice(at, at + REWRITE_FRAME_ROWS))
        writeSync(fd, frame)
        hash.update(frame)
        length += frame.length
      }
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    const dir = openSync(this.dir, 'r')
    fsyncSync(dir)
    closeSync(dir)
    const old = this.g
    try {
      pin({ g, frames: i, length, hash: `0x${hash.copy().digest('hex')}` })
    } catch (e) {
      unlinkSync(path)
      throw e
    }
    Object.assign(this, { g, next: i, length, hash })
    if (old && old !== g && existsSync(join(this.dir, this.file(old)))) unlinkSync(join(this.dir, this.file(old)))
  }

  /**
   * Rewrites the log keeping only rows for which `keep` holds (a compaction, a visitor's
   * deletion) as a new generation, pinned by `pin` before the old one is removed. The caller
   * makes sure no append is pending. Returns how many rows were removed.
   */
  async rewrite(keep: (row: Row) => boolean, pin: (c: LogCheckpoint) => void): Promise<number> {
    while (this.writing) await this.writing
    if (this.batch) throw new W3aError('INTERNAL', 'ingest log rewrite while appends are pending')
    const path = join(this.dir, this.file(this.g))
    const all = this.readFrames(readFileSync(path), this.g, path).rows
    const kept = all.filter(keep)
    await this.compact(kept, pin)
    return all.length - kept.length
  }

  /**
   * Replaces the log with exactly `rows` as a new generation, pinned by `pin` before the old one
   * is removed: the compaction after a segment is confirmed, from the rows the enclave holds in
   * memory (every acknowledged row still waiting is there), so the file is not read and opened
   * again. The caller makes sure no append is pending.
   */
  async compact(rows: Row[], pin: (c: LogCheckpoint) => void): Promise<void> {
    while (this.writing) await this.writing
    if (this.batch) throw new W3aError('INTERNAL', 'ingest log compaction while appends are pending')
    this.close()
    try {
      this.writeGeneration(rows, pin)
    } finally {
      this.fd = openSync(join(this.dir, this.file(this.g)), 'a', 0o600)
    }
  }

  /** One sealed frame (u32 length ‖ sealed { g, i, rows } or { g, i, keys, rows: values }: rowsAsValues). */
  private frame(g: string, i: number, rows: Row[]): Buffer {
    const compact = rowsAsValues(rows)
    const json = compact ? JSON.stringify({ g, i, keys: compact.keys, rows: compact.values }) : JSON.stringify({ g, i, rows })
    const sealed = seal(this.key, new TextEncoder().encode(json), { label: this.label })
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
    // Appends of this turn join the first frame: a relayed batch's events reach append after a
    // few microtasks each (open, enrich), so wait out the turn, not one microtask.
    await new Promise<void>((r) => setImmediate(r))
    while (this.batch) {
      const b = this.batch
      this.batch = undefined
      try {
        if (this.fd === undefined) throw new W3aError('INTERNAL', 'ingest log not opened (replay first)')
        const frame = this.frame(this.g, this.next, b.rows)
        // Written at once (into the page cache: fast), so only the fsync waits for a turn of a loop busy opening the next events.
        for (let at = 0; at < frame.length; ) at += writeSync(this.fd, frame, at, frame.length - at)
        await fdatasync(this.fd)
        // Counted only once on disk: a checkpoint never pins a frame that may be torn.
        this.next++
        this.length += frame.length
        this.hash.update(frame)
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
