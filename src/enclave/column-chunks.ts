/**
 * Rows into a DuckDB table column-wise, one data chunk of DuckDB's vector size at a time
 * (ingest-segments.ts writes a site segment this way). No text is parsed on the way: each
 * column's values are set from a JS array. A text column whose values repeat within a chunk (a
 * page, a browser, an hour label) goes in as an ENUM of its distinct values, so only those cross
 * into DuckDB one string at a time; the rest are small indexes copied in bulk. The appender casts
 * the ENUM back to the table's VARCHAR: the table holds the same strings either way.
 */
import { DOUBLE, ENUM, INTEGER, VARCHAR, DuckDBDataChunk, type DuckDBConnection, type DuckDBType } from '@duckdb/node-api'

/** A column's kind in the table (TEXT is VARCHAR; NUMBER is DOUBLE). */
export type ChunkColumn = { kind: 'TEXT' | 'INTEGER' | 'NUMBER'; value: (rowIndex: number) => string | number | null }

/** DuckDB's standard vector size: a data chunk holds at most this many rows. */
const CHUNK_ROWS = 2048
/** A text column with more distinct values than this share of a chunk goes in as plain VARCHAR. */
const DICTIONARY_SHARE = 1 / 4

/** The chunk type of a text column's values: an ENUM of its distinct values if they repeat enough. */
function textType(values: readonly (string | number | null)[]): DuckDBType {
  const distinct = new Set<string>()
  const limit = values.length * DICTIONARY_SHARE
  for (const v of values) {
    // An ENUM has no NULL member: a column holding NULL goes in as VARCHAR.
    if (typeof v !== 'string') return VARCHAR
    distinct.add(v)
    if (distinct.size > limit) return VARCHAR
  }
  return ENUM([...distinct])
}

/** Appends `rowCount` rows to `table`, whose columns are `columns` in order. */
export async function appendColumns(conn: DuckDBConnection, table: string, rowCount: number, columns: readonly ChunkColumn[]): Promise<void> {
  const appender = await conn.createAppender(table)
  for (let start = 0; start < rowCount; start += CHUNK_ROWS) {
    const n = Math.min(CHUNK_ROWS, rowCount - start)
    const values = columns.map((c) => {
      const out = new Array<string | number | null>(n)
      for (let i = 0; i < n; i++) out[i] = c.value(start + i)
      return out
    })
    const types = columns.map((c, j) => (c.kind === 'TEXT' ? textType(values[j]!) : c.kind === 'INTEGER' ? INTEGER : DOUBLE))
    const chunk = DuckDBDataChunk.create(types, n)
    values.forEach((v, j) => chunk.setColumnValues(j, v))
    appender.appendDataChunk(chunk)
  }
  // On an error the caller's closed connection takes the appender with it.
  appender.closeSync()
}
