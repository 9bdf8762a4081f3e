/**
 * Values of a CSV that do not fit a column's type, found before anything is encrypted:
 * - a declared column (`--schema amount:DOUBLE`) with a value that does not convert is an error
 *   naming the lines (the owner said what the column is; the data disagrees);
 * - a column DuckDB inferred as text although nearly all its values are numbers (995 numbers,
 *   5 "n/a" or "12,5") is SUSPECT: a few typos would otherwise turn `amount` into text, and
 *   every sum and average over it would be refused later, after the data is uploaded.
 * Both read the CSV as text (every column VARCHAR, named c0, c1, …) and use one predicate
 * (column-types.ts notConvertible). Lines come from the file itself (csv-lines.ts).
 */
import type { DuckDBConnection } from '@duckdb/node-api'
import { notConvertible, type ColumnType } from './column-types.js'
import { csvRecordLines } from './csv-lines.js'

/** A column and the values in it that are not of `type`: how many, and the first few with their lines. */
export type BadValues = { column: string; type: ColumnType; count: number; nonNull: number; lines: number[]; values: string[] }

/** At least this share of a text column's values are numbers: a column meant to be numeric. */
export const NUMERIC_SHARE = 0.9
/** How many bad values (with their lines) an error shows. */
export const SHOWN = 5

export type ColumnCheck = { index: number; name: string; type: ColumnType }

/**
 * Counts, per check, the non-NULL values and those that do not convert; for columns with any,
 * the first SHOWN in file order with their lines. `textSource` reads the CSV with columns c<i>.
 */
export async function findBadValues(
  run: (sql: string) => Promise<unknown[][]>,
  file: string,
  textSource: string,
  checks: readonly ColumnCheck[],
): Promise<BadValues[]> {
  if (checks.length === 0) return []
  const col = (c: ColumnCheck) => `c${c.index}`
  const [counts] = await run(`SELECT ${checks.map((c) => `count(${col(c)}), count(*) FILTER (WHERE ${notConvertible(col(c), c.type)})`).join(', ')} FROM ${textSource}`)
  const found = checks.map((c, i) => ({ check: c, nonNull: Number(counts![2 * i] as bigint), count: Number(counts![2 * i + 1] as bigint) })).filter((f) => f.count > 0)
  if (found.length === 0) return []
  // rowid of a freshly created table is the file's record order.
  const cols = [...new Set(found.map((f) => col(f.check)))]
  await run(`CREATE OR REPLACE TEMP TABLE __w3a_text AS SELECT ${cols.join(', ')} FROM ${textSource}`)
  try {
    const out: BadValues[] = []
    for (const f of found) {
      const rows = await run(`SELECT rowid, ${col(f.check)} FROM __w3a_text WHERE ${notConvertible(col(f.check), f.check.type)} ORDER BY rowid LIMIT ${SHOWN}`)
      const lines = await csvRecordLines(file, rows.map((r) => Number(r[0] as bigint)))
      out.push({ column: f.check.name, type: f.check.type, count: f.count, nonNull: f.nonNull, lines, values: rows.map((r) => String(r[1])) })
    }
    return out
  } finally {
    await run('DROP TABLE IF EXISTS __w3a_text')
  }
}

/** Whether a text column's bad values (as numbers) are few enough that it was meant to be numeric. */
export function looksNumeric(b: BadValues): boolean {
  return b.count > 0 && b.nonNull - b.count >= NUMERIC_SHARE * b.nonNull
}

/** "line 7 "n/a", line 19 "12,5" and 3 more" */
export function badValuesText(b: BadValues): string {
  const shown = b.lines.map((l, i) => `line ${l} ${JSON.stringify(b.values[i])}`).join(', ')
  return b.count > b.lines.length ? `${shown} and ${b.count - b.lines.length} more` : shown
}
