/**
 * Rows handed to DuckDB column-wise as a table function (ingest-segments.ts writes a site segment
 * from it). No text is built or parsed a row, and nothing is stored in a table on the way: DuckDB
 * pulls one data chunk of its vector size at a time, each column set from a JS array. A text
 * column with few distinct values (a browser, an hour label) is produced as an ENUM of them, so
 * only those cross into DuckDB one string at a time; the rest are small indexes copied in bulk.
 * The select list casts it back to VARCHAR: a query sees the same strings either way.
 */
import { DOUBLE, ENUM, INTEGER, VARCHAR, DuckDBTableFunction, type DuckDBConnection, type DuckDBType } from '@duckdb/node-api'

/** A column's SQL type as the query sees it (DOUBLE for a TIMESTAMP's epoch ms: cast it in the query). */
export type JsColumn = { name: string; type: 'VARCHAR' | 'INTEGER' | 'DOUBLE'; value: (rowIndex: number) => string | number | null }

/** DuckDB's standard vector size: a data chunk holds at most this many rows. */
const CHUNK_ROWS = 2048
/** A text column with more distinct values than this is produced as plain VARCHAR. */
const MAX_DICTIONARY = 256

type Value = string | number | null

/** The type a text column is produced as: an ENUM of its distinct values if they are few. */
function textType(values: readonly Value[]): DuckDBType {
  const distinct = new Set<string>()
  for (const v of values) {
    // An ENUM has no NULL member.
    if (typeof v !== 'string') return VARCHAR
    distinct.add(v)
    if (distinct.size > MAX_DICTIONARY) return VARCHAR
  }
  return ENUM([...distinct])
}

/**
 * Registers table function `name` on `conn`, yielding `rowCount` rows of `columns` in order (each scan from the first row).
 * Returns the select list that gives each column under its name and type: `SELECT ${list} FROM name()`.
 * Column names are the caller's own identifiers, not input.
 */
export function registerColumns(conn: DuckDBConnection, name: string, rowCount: number, columns: readonly JsColumn[]): string {
  const values = columns.map((c) => {
    const out = new Array<Value>(rowCount)
    for (let i = 0; i < rowCount; i++) out[i] = c.value(i)
    return out
  })
  const types = columns.map((c, j) => (c.type === 'VARCHAR' ? textType(values[j]!) : c.type === 'INTEGER' ? INTEGER : DOUBLE))
  conn.registerTableFunction(DuckDBTableFunction.create({
    name,
    bindFunction: (info) => columns.forEach((c, j) => info.addResultColumn(c.name, types[j]!)),
    initFunction: (info) => info.setInitData({ next: 0 }),
    mainFunction: (info, output) => {
      const scan = info.initData as { next: number }
      try {
        const next = scan.next
        const n = Math.min(CHUNK_ROWS, rowCount - next)
        output.rowCount = n // zero ends the scan
        for (let j = 0; j < values.length && n > 0; j++) {
          const column = values[j]!
          const vector = output.getColumnVector(j)
          for (let i = 0; i < n; i++) vector.setItem(i, column[next + i] ?? null)
          vector.flush()
        }
        scan.next += n
      } catch {
        // A message could quote a value: it stays here.
        info.setError(`${name}: a value did not fit its column's type`)
      }
    },
  }))
  return columns.map((c, j) => (types[j] === VARCHAR || c.type !== 'VARCHAR' ? c.name : `CAST(${c.name} AS VARCHAR) AS ${c.name}`)).join(', ')
}
