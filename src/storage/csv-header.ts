/**
 * Reads the header record of a CSV file (RFC 4180: `,` delimiter, `"` quotes, `""`
 * escapes, LF or CRLF). DuckDB's sniffer guesses a dialect and, on a broken file,
 * guesses wrong (it once took a bad last row as the header and returned 0 rows), so
 * the header is read here and DuckDB is told exactly what to expect.
 */
import { open } from 'node:fs/promises'
import { W3aError } from '../core/errors.js'

const MAX_HEADER_BYTES = 1024 * 1024
const QUOTE = 0x22
const COMMA = 0x2c
const LF = 0x0a
const CR = 0x0d

export async function readCsvHeader(file: string): Promise<string[]> {
  const handle = await open(file, 'r')
  let buf: Uint8Array
  let atEof: boolean
  try {
    const out = new Uint8Array(MAX_HEADER_BYTES + 1)
    let filled = 0
    for (;;) {
      const { bytesRead } = await handle.read(out, filled, out.length - filled, filled)
      if (bytesRead === 0) break
      filled += bytesRead
      if (filled === out.length) break
    }
    atEof = filled <= MAX_HEADER_BYTES
    buf = out.subarray(0, Math.min(filled, MAX_HEADER_BYTES))
  } finally {
    await handle.close()
  }

  // Byte-level scan is safe for UTF-8: `"`, `,`, CR and LF never occur inside a multi-byte character.
  const start = buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0
  const fields: Uint8Array[] = []
  let field: number[] = []
  let inQuotes = false
  let fieldStart = true
  let i = start
  let ended = false
  for (; i < buf.length; i++) {
    const c = buf[i]!
    if (inQuotes) {
      if (c === QUOTE) {
        if (buf[i + 1] === QUOTE) {
          field.push(QUOTE)
          i++
        } else {
          inQuotes = false
        }
      } else {
        field.push(c)
      }
    } else if (c === QUOTE && fieldStart) {
      inQuotes = true
      fieldStart = false
    } else if (c === COMMA) {
      fields.push(Uint8Array.from(field))
      field = []
      fieldStart = true
    } else if (c === LF || c === CR) {
      ended = true
      break
    } else {
      field.push(c)
      fieldStart = false
    }
  }
  if (!ended && !atEof) throw new W3aError('INPUT_MALFORMED', `CSV header of ${file} is longer than ${MAX_HEADER_BYTES} bytes`)
  if (inQuotes) throw new W3aError('INPUT_MALFORMED', `CSV header of ${file} has an unterminated quote`)
  fields.push(Uint8Array.from(field))

  const decoder = new TextDecoder('utf-8', { fatal: true })
  let names: string[]
  try {
    names = fields.map((f) => decoder.decode(f))
  } catch {
    throw new W3aError('INPUT_MALFORMED', `CSV header of ${file} is not valid UTF-8`)
  }
  if (names.length === 1 && names[0] === '') throw new W3aError('INPUT_MALFORMED', `CSV file ${file} has an empty header line`, {
    details: ['The first line must name the columns.'],
  })
  return names
}
