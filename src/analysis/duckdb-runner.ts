/**
 * The analysis worker's DuckDB: in memory, loaded with the job's decrypted Parquet segments
 * as the table `data`, then locked down (no file/network access, no extension loading,
 * configuration frozen) before any analyst-derived SQL runs. The lock-down is the second
 * line of defense: even SQL that slipped past the checker cannot read files or change
 * settings. Spill files (plaintext) go only to a private temp dir that is removed on close.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { W3aError } from '../core/errors.js'
import { duckdbMessage, sqlIdent, sqlString } from '../storage/duckdb-sandbox.js'
import type { SqlParser } from './sql-checker.js'

export type RunnerOptions = {
  /** Decrypted Parquet segment files (inside the worker's private/sealed area). */
  segmentFiles: string[]
  /** Where DuckDB may spill (plaintext!): default a fresh private dir under tmpdir. */
  spillDir?: string
  memoryLimit?: string
  threads?: number
  /** Adds this column, numbering the rows: the privacy unit of a dataset that declares none (each row its own unit). */
  rowUnit?: string
  /**
   * Picks the columns to load from the segments' schema (read from their footers only), so a
   * query naming 3 of 20 columns decodes 3. Runs before any row is loaded and before the
   * lock-down, so it gets a parser only (json_serialize_sql): no analyst SQL runs. Default: all.
   */
  selectColumns?: (schema: { name: string; type: string }[], parser: SqlParser) => Promise<readonly string[]>
}

export type QueryResult = { columns: { name: string; type: string }[]; rows: unknown[][] }

export type AnalysisRunner = {
  /** Runs one statement with a timeout; DuckDB errors become `code` with a data-free message. */
  query(sql: string, opts?: { timeoutMs?: number; params?: unknown[]; code?: 'QUERY_REFUSED' | 'INTERNAL' }): Promise<QueryResult>
  /** Column names and DuckDB types of `data`. */
  explainColumns(): Promise<{ name: string; type: string }[]>
  close(): Promise<void>
}

export const DEFAULT_TIMEOUT_MS = 30_000

export async function openAnalysisRunner(opts: RunnerOptions): Promise<AnalysisRunner> {
  const files = checkedFiles(opts.segmentFiles)
  if (files.length === 0) throw new W3aError('INVALID_ARGUMENT', 'An analysis needs at least one segment file')
  const db = await openDatabase(opts)
  try {
    // One statement over every file: DuckDB scans them in parallel.
    const select = await db.columnsToLoad(files)
    await db.conn().run(`CREATE TABLE data AS SELECT ${select}${db.rowUnit(0)} FROM ${readParquet(files)}`)
    await db.lockDown()
  } catch (e) {
    throw await db.fail(e)
  }
  return db.runner
}

/** Loads segment files one by one as they arrive (a fetch still running), then locks down. */
export type AnalysisLoader = {
  /** Adds one file's rows; the first file fixes the columns (selectColumns runs then). Calls are queued. */
  add(file: string): Promise<void>
  /** No more files: locks DuckDB down and hands over the runner. */
  finish(): Promise<AnalysisRunner>
  /** Closes everything (after a failure elsewhere). */
  abort(): Promise<void>
}

export async function openAnalysisLoader(opts: Omit<RunnerOptions, 'segmentFiles'>): Promise<AnalysisLoader> {
  const db = await openDatabase(opts)
  let select: string | undefined
  let rows = 0
  let queue: Promise<unknown> = Promise.resolve()
  const addNow = async (file: string): Promise<void> => {
    const [path] = checkedFiles([file])
    try {
      const statement = select === undefined ? 'CREATE TABLE data AS' : 'INSERT INTO data'
      select ??= await db.columnsToLoad([path!])
      await db.conn().run(`${statement} SELECT ${select}${db.rowUnit(rows)} FROM ${readParquet([path!])}`)
      rows = Number((await db.conn().runAndReadAll('SELECT count(*) FROM data')).getRows()[0]![0])
    } catch (e) {
      throw await db.fail(e)
    }
  }
  return {
    add(file) {
      const next = queue.then(() => addNow(file))
      queue = next.catch(() => undefined)
      return next
    },
    async finish() {
      await queue
      try {
        if (select === undefined) throw new W3aError('INPUT_MALFORMED', 'The dataset has no segments to analyse')
        await db.lockDown()
      } catch (e) {
        throw await db.fail(e)
      }
      return db.runner
    },
    async abort() {
      await queue
      await db.runner.close()
    },
  }
}

function checkedFiles(segmentFiles: readonly string[]): string[] {
  const files = segmentFiles.map((f) => resolve(f))
  for (const f of files) {
    // DuckDB expands globs: a * ? [ in a path would read other files.
    if (/[*?[]/.test(f)) throw new W3aError('INVALID_ARGUMENT', 'Segment file names with * ? or [ are not supported')
  }
  return files
}

const readParquet = (files: readonly string[]) => `read_parquet([${files.map(sqlString).join(', ')}])`

/**
 * The in-memory DuckDB, its runner, and the steps of loading: which columns to load, the row
 * unit, the lock-down, and cleanup on failure. The only SQL text before the lock-down is our
 * own: file names and column names, quoted.
 */
async function openDatabase(opts: Omit<RunnerOptions, 'segmentFiles'>) {
  const ownSpill = opts.spillDir === undefined
  const spill = opts.spillDir ?? (await mkdtemp(join(tmpdir(), 'w3a-analysis-')))
  let instance: DuckDBInstance | undefined
  let conn: DuckDBConnection | undefined
  const cleanup = async () => {
    conn?.closeSync()
    instance?.closeSync()
    conn = undefined
    instance = undefined
    if (ownSpill) await rm(spill, { recursive: true, force: true })
  }
  const live = (): DuckDBConnection => {
    if (conn === undefined) throw new W3aError('INTERNAL', 'The analysis runner is closed')
    return conn
  }
  const runner: AnalysisRunner = {
    async query(sql, q = {}) {
      const c = live()
      const timeoutMs = q.timeoutMs ?? DEFAULT_TIMEOUT_MS
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        c.interrupt()
      }, timeoutMs)
      try {
        const reader = await c.runAndReadAll(sql, q.params as never)
        const names = reader.columnNames()
        const types = reader.columnTypes().map((t) => t.toString())
        return { columns: names.map((name, i) => ({ name, type: types[i] ?? 'UNKNOWN' })), rows: reader.getRows() as unknown[][] }
      } catch (e) {
        if (timedOut) throw new W3aError('QUERY_REFUSED', `The query ran longer than ${timeoutMs} ms and was stopped`, { cause: e })
        throw new W3aError(q.code ?? 'QUERY_REFUSED', `DuckDB refused the query: ${duckdbMessage(e)}`, { cause: e })
      } finally {
        clearTimeout(timer)
      }
    },
    async explainColumns() {
      const r = await runner.query(`DESCRIBE ${sqlIdent('data')}`, { code: 'INTERNAL' })
      return r.rows.map((row) => ({ name: String(row[0]), type: String(row[1]) }))
    },
    close: cleanup,
  }
  try {
    instance = await DuckDBInstance.create(':memory:', {
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
      memory_limit: opts.memoryLimit ?? '1GB',
      threads: String(opts.threads ?? 2),
      temp_directory: spill,
    })
    conn = await instance.connect()
  } catch (e) {
    await cleanup()
    throw new W3aError('INTERNAL', `DuckDB could not start: ${duckdbMessage(e)}`, { cause: e })
  }
  /** Rows are numbered from `offset` + 1, so files loaded one by one keep distinct row units. */
  const rowUnit = (offset: number) => (opts.rowUnit === undefined ? '' : `, ${offset} + row_number() OVER () AS ${sqlIdent(opts.rowUnit)}`)
  return {
    runner,
    conn: live,
    rowUnit,
    /** The select list: every column, or what selectColumns keeps of the files' schema (footers only). */
    async columnsToLoad(files: readonly string[]): Promise<string> {
      if (!opts.selectColumns) return '*'
      const described = await live().runAndReadAll(`DESCRIBE SELECT *${rowUnit(0)} FROM ${readParquet(files)}`)
      const schema = described.getRows().map((row) => ({ name: String(row[0]), type: String(row[1]) }))
      const keep = new Set((await opts.selectColumns(schema, parserOf(runner))).map((c) => c.toLowerCase()))
      const loaded = schema.filter((c) => keep.has(c.name.toLowerCase()) && c.name !== opts.rowUnit)
      // An empty select list is no SQL; keep one column so that count(*) still counts rows.
      return (loaded.length > 0 ? loaded : schema.slice(0, 1)).map((c) => sqlIdent(c.name)).join(', ')
    },
    /** After this no file, not even the segments, is readable and no setting can change. */
    async lockDown(): Promise<void> {
      await live().run('SET enable_external_access = false')
      await live().run('SET lock_configuration = true')
    },
    /** Closes everything; the error to throw (W3aErrors as they are, DuckDB's as INPUT_MALFORMED). */
    async fail(e: unknown): Promise<W3aError> {
      await cleanup()
      return e instanceof W3aError ? e : new W3aError('INPUT_MALFORMED', `The segments cannot be loaded: ${duckdbMessage(e)}`, { cause: e })
    },
  }
}

/** DuckDB's own parser through the runner: SQL text → parse tree JSON and back, nothing executed. */
export function parserOf(runner: AnalysisRunner): SqlParser {
  const one = async (fn: string, arg: string) => {
    const r = await runner.query(`SELECT ${fn}($1::VARCHAR)`, { params: [arg] })
    return String(r.rows[0]?.[0] ?? '')
  }
  return { serialize: (s) => one('json_serialize_sql', s), deserialize: (j) => one('json_deserialize_sql', j) }
}
