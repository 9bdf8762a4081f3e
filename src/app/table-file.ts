/**
 * A table file read in the page for upload (its own chunk, loaded when a file is picked): a
 * CSV is parsed (RFC 4180, header row), each column's type inferred as `w3a dataset upload`
 * records them (DuckDB names: BIGINT, DOUBLE, BOOLEAN, VARCHAR; empty cells are NULL) and
 * written as Parquet segments with hyparquet-writer; a Parquet file is sent as it is, its
 * columns read from its footer with hyparquet. Nothing here leaves the page.
 */
import { parquetMetadata, type SchemaElement } from 'hyparquet'
import { parquetWriteBuffer } from 'hyparquet-writer'
import { W3aError } from '../core/errors.js'

/** The types a CSV column can take here, narrowest first. */
export const CSV_TYPES = ['BOOLEAN', 'BIGINT', 'DOUBLE', 'VARCHAR'] as const
export type CsvType = (typeof CSV_TYPES)[number]

export type TableColumn = {
  name: string
  /** DuckDB's name of the type. */
  type: string
  /** CSV: the types every value of the column fits (the owner may pick a wider one). */
  fits: readonly string[]
  /** Numeric columns: the smallest and largest value (to suggest a measure's bounds). */
  min?: number
  max?: number
}

export type TableFile = {
  format: 'csv' | 'parquet'
  columns: TableColumn[]
  rows: number
  /** The Parquet segments to seal (fresh bytes at each call), with the CSV columns' types as chosen (default: inferred). */
  segments(types?: Record<string, string>): { parquet: Uint8Array; rows: number }[]
}

/** Rows per Parquet segment, as `w3a dataset upload` cuts them. */
export const ROWS_PER_SEGMENT = 1_000_000
const INT64 = /^[-+]?\d{1,19}$/
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/
const BOOL = /^(true|false)$/i

export function readTableFile(fileName: string, bytes: Uint8Array): TableFile {
  if (/\.parquet$/i.test(fileName)) return readParquet(bytes)
  if (/\.(csv|txt)$/i.test(fileName)) return readCsv(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  throw new W3aError('INVALID_ARGUMENT', `"${fileName}" is neither a .csv nor a .parquet file`, { details: ['Pick a CSV with a header row, or a Parquet file.'] })
}

/** RFC 4180: fields separated by commas, quoted with "…" ("" inside), records by CRLF or LF. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = []
  let record: string[] = []
  let field = ''
  let quoted = false
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0
  for (; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++
      else if (c === '"') quoted = false
      else field += c
    } else if (c === '"' && field === '') quoted = true
    else if (c === ',') record.push(field), (field = '')
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++
      record.push(field)
      records.push(record)
      record = []
      field = ''
    } else field += c
  }
  if (quoted) throw new W3aError('INVALID_ARGUMENT', 'The CSV ends inside a quoted field', { details: [`record ${records.length + 1} opens a quote that is never closed`] })
  if (field !== '' || record.length > 0) record.push(field), records.push(record)
  return records.filter((r) => !(r.length === 1 && r[0] === ''))
}

function readCsv(text: string): TableFile {
  const [header, ...body] = parseCsv(text)
  if (!header || header.length === 0) throw new W3aError('INVALID_ARGUMENT', 'The CSV is empty: it needs a header row and at least one row')
  const names = header.map((h) => h.trim())
  const dup = names.find((n, i) => n === '' || names.indexOf(n) !== i)
  if (dup !== undefined) throw new W3aError('INVALID_ARGUMENT', dup === '' ? 'A column of the CSV header has no name' : `The CSV header names "${dup}" twice`)
  if (body.length === 0) throw new W3aError('INVALID_ARGUMENT', 'The CSV has a header but no row')
  body.forEach((r, i) => {
    if (r.length !== names.length) throw new W3aError('INVALID_ARGUMENT', `CSV line ${i + 2} has ${r.length} field(s), the header ${names.length}`, { details: [r.join(',').slice(0, 120)] })
  })
  const columns = names.map((name, c) => csvColumn(name, body.map((r) => r[c]!)))
  return {
    format: 'csv',
    columns,
    rows: body.length,
    segments(types = {}) {
      const out: { parquet: Uint8Array; rows: number }[] = []
      for (let start = 0; start < body.length; start += ROWS_PER_SEGMENT) {
        const part = body.slice(start, start + ROWS_PER_SEGMENT)
        const columnData = columns.map((col, c) => {
          const type = types[col.name] ?? col.type
          if (!col.fits.includes(type)) throw new W3aError('INVALID_ARGUMENT', `Column "${col.name}" does not fit ${type}`, { details: [`its values fit: ${col.fits.join(', ')}`] })
          return { name: col.name, ...typedColumn(type as CsvType, part.map((r) => r[c]!)) }
        })
        out.push({ parquet: new Uint8Array(parquetWriteBuffer({ columnData })), rows: part.length })
      }
      return out
    },
  }
}

function csvColumn(name: string, values: string[]): TableColumn {
  let bool = true
  let int = true
  let num = true
  let min = Infinity
  let max = -Infinity
  for (const v of values) {
    if (v === '') continue
    if (bool && !BOOL.test(v)) bool = false
    if (int && !(INT64.test(v) && fitsInt64(v))) int = false
    if (num) {
      if (NUMBER.test(v)) {
        const n = Number(v)
        if (n < min) min = n
        if (n > max) max = n
      } else num = false
    }
  }
  const fits = CSV_TYPES.filter((t) => (t === 'BOOLEAN' ? bool : t === 'BIGINT' ? int : t === 'DOUBLE' ? num : true))
  // A column with no value at all is text, as DuckDB reads it.
  const type = values.every((v) => v === '') ? 'VARCHAR' : fits[0]!
  return { name, type, fits, ...(num && min <= max ? { min, max } : {}) }
}

function fitsInt64(v: string): boolean {
  const n = BigInt(v)
  return n >= -(2n ** 63n) && n < 2n ** 63n
}

function typedColumn(type: CsvType, values: string[]): { data: unknown[]; type: 'BOOLEAN' | 'INT64' | 'DOUBLE' | 'STRING' } {
  const nullOr = <T>(f: (v: string) => T) => values.map((v) => (v === '' ? null : f(v)))
  if (type === 'BOOLEAN') return { type, data: nullOr((v) => v.toLowerCase() === 'true') }
  if (type === 'BIGINT') return { type: 'INT64', data: nullOr((v) => BigInt(v)) }
  if (type === 'DOUBLE') return { type, data: nullOr(Number) }
  return { type: 'STRING', data: nullOr((v) => v) }
}

function readParquet(bytes: Uint8Array): TableFile {
  let meta: ReturnType<typeof parquetMetadata>
  try {
    meta = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer)
  } catch (e) {
    throw new W3aError('INVALID_ARGUMENT', 'This is not a readable Parquet file', { details: [String((e as Error).message ?? e)] })
  }
  const [, ...leaves] = meta.schema
  const nested = leaves.find((el) => el.num_children)
  if (nested) throw new W3aError('INVALID_ARGUMENT', `Column "${nested.name}" is nested (a list, map or struct): upload flat tables only`)
  const rows = Number(meta.num_rows)
  return {
    format: 'parquet',
    columns: leaves.map((el) => {
      const type = duckdbType(el)
      return { name: el.name, type, fits: [type] }
    }),
    rows,
    // A copy each time: the upload zeroes what it sealed, and a retry must send the file again.
    segments: () => [{ parquet: bytes.slice(), rows }],
  }
}

/** DuckDB's name for a flat Parquet column's type (as DESCRIBE shows it). */
export function duckdbType(el: SchemaElement): string {
  const logical = el.logical_type
  if (logical?.type === 'STRING' || logical?.type === 'ENUM' || logical?.type === 'JSON' || el.converted_type === 'UTF8') return 'VARCHAR'
  if (logical?.type === 'DATE' || el.converted_type === 'DATE') return 'DATE'
  if (logical?.type === 'TIMESTAMP' || el.converted_type === 'TIMESTAMP_MILLIS' || el.converted_type === 'TIMESTAMP_MICROS') return 'TIMESTAMP'
  if (logical?.type === 'DECIMAL') return `DECIMAL(${logical.precision},${logical.scale})`
  if (el.converted_type === 'DECIMAL') return `DECIMAL(${el.precision},${el.scale})`
  if (logical?.type === 'INTEGER') {
    const names: Record<number, string> = { 8: 'TINYINT', 16: 'SMALLINT', 32: 'INTEGER', 64: 'BIGINT' }
    return `${logical.isSigned ? '' : 'U'}${names[logical.bitWidth] ?? 'BIGINT'}`
  }
  switch (el.type) {
    case 'BOOLEAN':
      return 'BOOLEAN'
    case 'INT32':
      return 'INTEGER'
    case 'INT64':
      return 'BIGINT'
    case 'FLOAT':
      return 'FLOAT'
    case 'DOUBLE':
      return 'DOUBLE'
    default:
      return 'BLOB'
  }
}
