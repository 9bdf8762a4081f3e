/**
 * Column types an owner may declare for a CSV upload (`w3a dataset upload --schema`), and the
 * one SQL test of "this text value does not convert": the same predicate finds the bad values
 * of a declared column (an error naming their lines) and the few values that made a column
 * that looks numeric come out as text (suspect-columns.ts). A value that passes it converts
 * with a plain CAST, which is how declared columns are loaded (table.ts).
 */
import { W3aError } from '../core/errors.js'

export const COLUMN_TYPES = ['BIGINT', 'DOUBLE', 'VARCHAR', 'DATE', 'TIMESTAMP', 'BOOLEAN'] as const
export type ColumnType = (typeof COLUMN_TYPES)[number]

/** `amount:DOUBLE,day:DATE` → { amount: 'DOUBLE', day: 'DATE' } (types case-insensitive). */
export function parseColumnTypes(raw: string): Record<string, ColumnType> {
  const out: Record<string, ColumnType> = {}
  for (const part of raw.split(',')) {
    const m = /^\s*(.+?)\s*:\s*([A-Za-z]+)\s*$/.exec(part)
    const type = m?.[2]!.toUpperCase() as ColumnType | undefined
    if (!m || type === undefined || !COLUMN_TYPES.includes(type)) {
      throw new W3aError('INVALID_ARGUMENT', `--schema: "${part.trim()}" is not COLUMN:TYPE`, { details: [`Types: ${COLUMN_TYPES.join(', ')}. Example: --schema amount:DOUBLE,day:DATE`] })
    }
    if (Object.keys(out).some((k) => k.toLowerCase() === m[1]!.toLowerCase())) throw new W3aError('INVALID_ARGUMENT', `--schema names ${m[1]} twice`)
    out[m[1]!] = type
  }
  return out
}

/**
 * SQL, true when the text `col` (an identifier already quoted) is not NULL and does not convert
 * to `type`. BIGINT takes whole numbers only: DuckDB's cast would round "1.5" to 2.
 */
export function notConvertible(col: string, type: ColumnType): string {
  if (type === 'VARCHAR') return 'false'
  const integer = type === 'BIGINT' ? ` OR NOT regexp_full_match(trim(${col}), '[+-]?[0-9]+')` : ''
  return `(${col} IS NOT NULL AND (TRY_CAST(${col} AS ${type}) IS NULL${integer}))`
}
