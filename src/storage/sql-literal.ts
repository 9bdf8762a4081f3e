/** SQL literals for DuckDB, with no DuckDB on the import path (the browser's site queries use them too). */
import { W3aError } from '../core/errors.js'

/** A SQL string literal. DuckDB standard strings have no backslash escapes: only `'` needs doubling. */
export function sqlString(s: string): string {
  if (s.includes('\0')) throw new W3aError('INVALID_ARGUMENT', 'Text passed to DuckDB contains a NUL character')
  return `'${s.replaceAll("'", "''")}'`
}

/** A quoted SQL identifier. */
export function sqlIdent(s: string): string {
  if (s.includes('\0')) throw new W3aError('INVALID_ARGUMENT', 'Identifier contains a NUL character')
  return `"${s.replaceAll('"', '""')}"`
}
