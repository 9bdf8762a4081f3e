import { W3aError } from '../../core/errors.js'
import { badValuesText, checkPrivacyUnit, inspectTable, type BadValues, type ColumnTypes, type TableInfo } from '../../storage/index.js'

export type InspectDatasetParameters = {
  /** A .csv, .jsonl/.ndjson or .parquet file on this machine. */
  file: string
  privacyUnit?: string
  /** Declared CSV column types (name → BIGINT, DOUBLE, VARCHAR, DATE, TIMESTAMP or BOOLEAN); a value that does not fit is INPUT_MALFORMED naming its line. */
  types?: ColumnTypes
  /** Upload suspect columns as text anyway (COLUMN_TYPE_SUSPECT otherwise). */
  acceptText?: boolean
}

export type InspectDatasetReturnType = TableInfo & {
  /** Text columns that are numbers but for a few values (only when acceptText let them through). */
  suspect: BadValues[]
}

/**
 * Node only, reads nothing but the file: the schema an upload would have (DuckDB types, declared
 * ones applied), the privacy unit checked. Stops with COLUMN_TYPE_SUSPECT, naming the columns
 * and the lines, when a CSV column that is nearly all numbers would become text because of a
 * few values, unless `acceptText` (or a declared type for that column). uploadDataset runs it
 * before anything is encrypted or sent; the CLI runs it before it even contacts the network.
 */
export async function inspectDataset(params: InspectDatasetParameters): Promise<InspectDatasetReturnType> {
  const table = await inspectTable(params.file, params.types ? { types: params.types } : {})
  if (params.privacyUnit !== undefined) checkPrivacyUnit(table.columns, params.privacyUnit)
  if (table.suspect.length > 0 && params.acceptText !== true) {
    const s = table.suspect
    const what =
      s.length === 1
        ? `Column ${s[0]!.column} looks numeric, but ${s[0]!.count} of its ${s[0]!.nonNull} values ${s[0]!.count === 1 ? 'is not a number' : 'are not numbers'}: it would be uploaded as text`
        : `Columns ${s.map((b) => b.column).join(', ')} look numeric, but some of their values are not numbers: they would be uploaded as text`
    throw new W3aError('COLUMN_TYPE_SUSPECT', what, {
      details: [
        ...s.map((b) => `${b.column}: ${b.count} of ${b.nonNull} values; ${badValuesText(b)}`),
        'Nothing was encrypted or uploaded.',
        `Fix those values; or declare the type (--schema ${s[0]!.column}:DOUBLE), and a value that still does not fit is an error naming its line;`,
        'or upload as text anyway with --yes.',
      ],
    })
  }
  return table
}
