/** The privacy unit column of a table: no DuckDB here, so the browser's upload checks it the same way. */
import { W3aError } from '../core/errors.js'

export type Column = { name: string; type: string }

/** Throws PRIVACY_UNIT_MISSING (listing the columns) unless `name` is a column; returns it. */
export function checkPrivacyUnit(columns: Column[], name: string): Column {
  const column = columns.find((c) => c.name === name)
  if (column === undefined) {
    throw new W3aError('PRIVACY_UNIT_MISSING', `There is no column "${name}" to use as the privacy unit`, {
      details: [`Available columns: ${columns.map((c) => c.name).join(', ')}`],
    })
  }
  return column
}
