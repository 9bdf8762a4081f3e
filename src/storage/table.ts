/**
 * Plaintext tables on the owner's machine: inspect a CSV / JSONL / Parquet file, cut it
 * into Parquet segments (to be encrypted and stored), and write decrypted segments back
 * out as CSV / JSONL / Parquet. DuckDB does the reading and writing, in a sandbox that
 * can touch only the files of the call (see duckdb-sandbox.ts).
 *
 * Reading is strict: a CSV must have a header, every row the header's number of fields;
 * a bad row is an error naming its line, never a silently dropped or padded row.
 * Errors never quote the data (DuckDB's own messages do; they are cut down), except the few
 * values that do not fit a column's type (suspect-columns.ts): the owner's own, shown to the
 * owner on their own machine, so that they can find and fix them.
 *
 * CSV column types are inferred by DuckDB over the whole file, or declared (`types`: read as
 * text, every value checked, then CAST). A column that comes out as text although nearly all
 * its values are numbers is reported in `suspect`, with the lines of the values that are not.
 */
import { randomBytes } from 'node:crypto'
import { access, constants, rename, rm, stat } from 'node:fs/promises'
import { dirname, extname, join, resolve } from 'node:path'
import type { DuckDBConnection } from '@duckdb/node-api'
import { W3aError, isW3aError } from '../core/errors.js'
import type { ColumnType } from './column-types.js'
import { readCsvHeader } from './csv-header.js'
import { badValuesText, findBadValues, looksNumeric, type BadValues } from './suspect-columns.js'
import { duckdbMessage, sqlIdent, sqlString, withSandboxedDuckDb } from './duckdb-sandbox.js'

export type TableFormat = 'csv' | 'jsonl' | 'parquet'
export type { Column } from './privacy-unit.js'
export { checkPrivacyUnit } from './privacy-unit.js'
import type { Column } from './privacy-unit.js'
export type TableInfo = { format: TableFormat; columns: Column[]; rows: number }
/** Declared column types of a CSV, by column name (case-insensitive). */
export type ColumnTypes = Readonly<Record<string, ColumnType>>

const EXTENSIONS: Record<string, TableFormat> = {
  '.csv': 'csv',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.parquet': 'parquet',
}

/**
 * Format, columns (DuckDB types) and row count of a table file, and the text columns that look
 * numeric but for a few values (CSV only; declared columns are never suspect).
 */
export async function inspectTable(file: string, opts: { types?: ColumnTypes } = {}): Promise<TableInfo & { suspect: BadValues[] }> {
  const path = await readableTable(file)
  return withSandboxedDuckDb({ files: [path] }, async (conn) => {
    const { format, columns, rows, suspect } = await describeSource(conn, path, opts.types, true)
    return { format, columns, rows, suspect }
  })
}

/**
 * Cuts `file` into Parquet segments (zstd) of `rowsPerSegment` rows in file order, named
 * segment-00000.parquet, … in `outDir` (a private directory made by the caller). An empty
 * table gives one empty segment, so the schema still travels.
 */
export async function writeParquetSegments(
  file: string,
  opts: { outDir: string; rowsPerSegment: number; types?: ColumnTypes },
): Promise<{ columns: Column[]; rows: number; segments: { path: string; rows: number }[] }> {
  const { rowsPerSegment } = opts
  if (!Number.isSafeInteger(rowsPerSegment) || rowsPerSegment <= 0) {
    throw new W3aError('INVALID_ARGUMENT', `rowsPerSegment must be a positive integer, got ${rowsPerSegment}`)
  }
  const path = await readableTable(file)
  const outDir = resolve(opts.outDir)
  await existingDir(outDir)
  return withSandboxedDuckDb({ files: [path], dirs: [outDir] }, async (conn) => {
    const { columns, rows, sourceSql } = await describeSource(conn, path, opts.types, false)
    await sql(conn, `CREATE TABLE src AS SELECT * FROM ${sourceSql}`)
    const segments: { path: string; rows: number }[] = []
    const count = Math.max(1, Math.ceil(rows / rowsPerSegment))
    for (let i = 0; i < count; i++) {
      const segPath = join(outDir, `segment-${String(i).padStart(5, '0')}.parquet`)
      const from = i * rowsPerSegment
      const to = Math.min(rows, from + rowsPerSegment)
      // rowid of a freshly created table is the insertion (= file) order.
      await sql(
        conn,
        `COPY (SELECT * FROM src WHERE rowid >= ${from} AND rowid < ${to} ORDER BY rowid) TO ${sqlString(segPath)} (FORMAT parquet, COMPRESSION zstd)`,
      )
      segments.push({ path: segPath, rows: to - from })
    }
    return { columns, rows, segments }
  })
}

/**
 * Concatenates Parquet files (in order) into `outFile` as .csv (with header), .jsonl /
 * .ndjson or .parquet by its extension. Written to a temp name and renamed, so a failure
 * never leaves a partial file; an existing `outFile` is replaced.
 */
export async function writeTable(parquetFiles: string[], outFile: string): Promise<void> {
  const out = resolve(outFile)
  const format = EXTENSIONS[extname(out).toLowerCase()]
  if (format === undefined) {
    throw new W3aError('INVALID_ARGUMENT', `Cannot write ${outFile}: unknown extension`, {
      details: [`Use one of ${Object.keys(EXTENSIONS).join(', ')}.`],
    })
  }
  if (parquetFiles.length === 0) throw new W3aError('INVALID_ARGUMENT', 'writeTable needs at least one Parquet file')
  const inputs: string[] = []
  for (const f of parquetFiles) inputs.push(await readableFile(f))
  await existingDir(dirname(out))
  const tmp = `${out}.tmp-${randomBytes(6).toString('hex')}`
  const options = {
    csv: 'FORMAT csv, HEADER true',
    jsonl: 'FORMAT json',
    parquet: 'FORMAT parquet, COMPRESSION zstd',
  }[format]
  try {
    await withSandboxedDuckDb({ files: [...inputs, tmp] }, (conn) =>
      sql(conn, `COPY (SELECT * FROM read_parquet([${inputs.map(sqlString).join(', ')}])) TO ${sqlString(tmp)} (${options})`),
    )
    await rename(tmp, out)
  } catch (e) {
    await rm(tmp, { force: true })
    throw e
  }
}

/** Columns, row count and the typed DuckDB source expression of a checked table file (and, if asked, its suspect text columns). */
async function describeSource(conn: DuckDBConnection, path: string, types: ColumnTypes | undefined, findSuspects: boolean): Promise<TableInfo & { sourceSql: string; suspect: BadValues[] }> {
  const format = formatOf(path)
  const file = sqlString(path)
  let sourceSql: string
  let rows: number
  let suspects: (columns: Column[]) => Promise<BadValues[]> = async () => []
  if (types !== undefined && Object.keys(types).length > 0 && format !== 'csv') {
    throw new W3aError('INVALID_ARGUMENT', `Declared column types apply to CSV files; ${path} is ${format}, whose types are in the file`)
  }
  if (format === 'csv') {
    const header = await readCsvHeader(path)
    checkNames(header, path)
    const declared = declaredColumns(header, types ?? {})
    const dialect = `header=true, delim=',', quote='"', escape='"', skip=0, comment='', strict_mode=true, null_padding=false, ignore_errors=false, store_rejects=false`
    // Pass 1, no sniffing: every row must have the header's fields, else DuckDB names the
    // line. The same scan spots integers too long for BIGINT, which the sniffer would make
    // DOUBLE: distinct ids (maybe the privacy unit) must not collapse into one rounded value.
    // (Columns are named c0, c1, … here: the header's own names never enter this SQL.)
    const asText = `{${header.map((_, i) => `'c${i}': 'VARCHAR'`).join(', ')}}`
    const longInts = header.map((_, i) => `bool_or(length(c${i}) >= 19 AND regexp_full_match(c${i}, '[+-]?[0-9]{19,}'))`)
    const [pass1] = await sql(conn, `SELECT count(*), ${longInts.join(', ')} FROM read_csv(${file}, auto_detect=false, columns=${asText}, ${dialect})`)
    rows = Number(pass1![0] as bigint)
    const keepText = header.filter((_, i) => pass1![i + 1] === true)
    // Declared columns: every value must convert, else an error naming the lines.
    const text = `read_csv(${file}, auto_detect=false, columns=${asText}, ${dialect})`
    const run = (q: string) => sql(conn, q)
    const bad = await findBadValues(run, path, text, declared.filter((d) => d.type !== 'VARCHAR'))
    if (bad.length > 0) {
      throw new W3aError('INPUT_MALFORMED', `Column ${bad.map((b) => `${b.column} is declared ${b.type}, but ${b.count} of its values are not`).join('; column ')}`, {
        details: [...bad.map((b) => `${b.column}: ${badValuesText(b)}`), 'Fix those values in the file, or declare the column VARCHAR.'],
      })
    }
    // Pass 2: the file is well-formed, let DuckDB infer the other types over all of it. Declared
    // columns are read as text and CAST (every value was just checked to convert).
    const asVarchar = [...new Set([...keepText, ...declared.map((d) => d.name)])]
    const typesOption = asVarchar.length > 0 ? `, types={${asVarchar.map((n) => `${sqlString(n)}: 'VARCHAR'`).join(', ')}}` : ''
    const reader = `read_csv(${file}, names=[${header.map(sqlString).join(', ')}], sample_size=-1${typesOption}, ${dialect})`
    const casts = declared.filter((d) => d.type !== 'VARCHAR').map((d) => `CAST(${sqlIdent(d.name)} AS ${d.type}) AS ${sqlIdent(d.name)}`)
    sourceSql = casts.length > 0 ? `(SELECT * REPLACE (${casts.join(', ')}) FROM ${reader})` : reader
    // Inferred text columns whose values are nearly all numbers (not the long integers kept as text on purpose).
    suspects = async (columns) => {
      const checks = header
        .map((name, index) => ({ index, name, type: 'DOUBLE' as const }))
        .filter((c) => columns[c.index]?.type === 'VARCHAR' && !keepText.includes(c.name) && !declared.some((d) => d.index === c.index))
      return (await findBadValues(run, path, text, checks)).filter(looksNumeric)
    }
  } else if (format === 'jsonl') {
    sourceSql = `read_json(${file}, format='newline_delimited', records=true, sample_size=-1, ignore_errors=false)`
    rows = await countRows(conn, sourceSql)
  } else {
    sourceSql = `read_parquet(${file})`
    rows = await countRows(conn, sourceSql)
  }
  const described = await sql(conn, `DESCRIBE SELECT * FROM ${sourceSql}`)
  const columns = described.map((r) => ({ name: String(r[0]), type: String(r[1]) }))
  checkNames(
    columns.map((c) => c.name),
    path,
  )
  return { format, columns, rows, sourceSql, suspect: findSuspects ? await suspects(columns) : [] }
}

/** The header columns that `types` declares (names matched case-insensitively, as DuckDB does). */
function declaredColumns(header: string[], types: ColumnTypes): { index: number; name: string; type: ColumnType }[] {
  return Object.entries(types).map(([name, type]) => {
    const index = header.findIndex((h) => h.toLowerCase() === name.toLowerCase())
    if (index < 0) throw new W3aError('INVALID_ARGUMENT', `There is no column "${name}" to declare ${type}`, { details: [`Columns: ${header.join(', ')}`] })
    return { index, name: header[index]!, type }
  })
}

async function countRows(conn: DuckDBConnection, sourceSql: string): Promise<number> {
  const [[n]] = (await sql(conn, `SELECT count(*) FROM ${sourceSql}`)) as [[bigint]]
  return Number(n)
}

/** Runs SQL; DuckDB's complaints become INPUT_MALFORMED with a data-free message. */
async function sql(conn: DuckDBConnection, text: string): Promise<unknown[][]> {
  try {
    return (await conn.runAndReadAll(text)).getRows()
  } catch (e) {
    if (isW3aError(e)) throw e
    throw new W3aError('INPUT_MALFORMED', `The table cannot be read: ${duckdbMessage(e)}`, { cause: e })
  }
}

/** Column names must be present and unique (DuckDB compares them case-insensitively). */
function checkNames(names: string[], path: string): void {
  const seen = new Set<string>()
  names.forEach((name, i) => {
    if (name.trim() === '') throw new W3aError('INPUT_MALFORMED', `Column ${i + 1} of ${path} has no name`)
    const key = name.toLowerCase()
    if (seen.has(key)) throw new W3aError('INPUT_MALFORMED', `Column name "${name}" appears twice in ${path}`)
    seen.add(key)
  })
}

function formatOf(path: string): TableFormat {
  const format = EXTENSIONS[extname(path).toLowerCase()]
  if (format === undefined) {
    throw new W3aError('INVALID_ARGUMENT', `Cannot tell the format of ${path}`, {
      details: [`Supported extensions: ${Object.keys(EXTENSIONS).join(', ')}.`],
    })
  }
  return format
}

/** Absolute path of a non-empty, readable table file with a known extension. */
async function readableTable(file: string): Promise<string> {
  const path = resolve(file)
  formatOf(path)
  await readableFile(path)
  const { size } = await stat(path)
  if (size === 0) throw new W3aError('INPUT_UNREADABLE', `${file} is empty`)
  return path
}

async function readableFile(file: string): Promise<string> {
  const path = resolve(file)
  // DuckDB expands globs in file names; a literal * ? [ would read other files.
  if (/[*?[]/.test(path)) {
    throw new W3aError('INVALID_ARGUMENT', `File names with * ? or [ are not supported: ${file}`, {
      details: ['Rename the file (DuckDB would treat those characters as a pattern).'],
    })
  }
  try {
    const s = await stat(path)
    if (!s.isFile()) throw new W3aError('INPUT_UNREADABLE', `${file} is not a file`)
    await access(path, constants.R_OK)
  } catch (e) {
    if (isW3aError(e)) throw e
    const code = (e as NodeJS.ErrnoException).code
    throw new W3aError('INPUT_UNREADABLE', `Cannot read ${file}${code === 'ENOENT' ? ': no such file' : code ? ` (${code})` : ''}`, {
      cause: e,
    })
  }
  return path
}

async function existingDir(dir: string): Promise<void> {
  try {
    if ((await stat(dir)).isDirectory()) return
  } catch {
    // fall through
  }
  throw new W3aError('INVALID_ARGUMENT', `${dir} is not an existing directory`)
}
