/**
 * Line numbers of CSV records, for errors a person can act on ("line 1207"). A record starts
 * a line, and may span several when a quoted field holds a line break; blank lines hold no
 * record (DuckDB skips them too). Same dialect as csv-header.ts: `"` quotes, `""` escapes.
 */
import { createReadStream } from 'node:fs'

const QUOTE = 0x22
const LF = 0x0a
const CR = 0x0d

/** 1-based line of each data record (0 = the first record after the header), in the order given. */
export async function csvRecordLines(file: string, records: readonly number[]): Promise<number[]> {
  const wanted = new Set(records)
  const found = new Map<number, number>()
  let line = 1
  let record = -2 // the header is record -1
  let inQuotes = false
  let atStart = true
  outer: for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    for (const c of chunk) {
      if (atStart) {
        if (c === LF) {
          line++
          continue
        }
        if (c === CR) continue
        record++
        if (wanted.has(record)) {
          found.set(record, line)
          if (found.size === wanted.size) break outer
        }
        atStart = false
      }
      if (c === QUOTE) inQuotes = !inQuotes
      else if (c === LF) {
        line++
        if (!inQuotes) atStart = true
      }
    }
  }
  return records.map((r) => found.get(r) ?? -1)
}
