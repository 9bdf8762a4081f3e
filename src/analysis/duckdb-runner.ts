/**
 * The analysis worker's DuckDB: in memory, the job's decrypted Parquet segments as `data` (a
 * view that scans them in place, or a table loaded from them), then locked down (no file or
 * network access beyond the segments themselves, no extension loading, configuration frozen)
 * before any analyst-derived SQL runs. The lock-down is the second
 * line of defense: even SQL that slipped past the checker cannot read files or change
 * settings. Spilling is off: DuckDB's temp files would be plaintext on disk (its temp-file
 * encryption needs the httpfs extension, which the lock-down keeps out), so a query that needs
 * more than `memoryLimit` fails instead of writing rows anywhere.
 */
import { resolve } from 'node:path'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { W3aError } from '../core/errors.js'
import { duckdbMessage, sqlIdent, sqlString } from '../storage/duckdb-sandbox.js'
import type { SqlParser } from './sql-checker.js'

export type RunnerOptions = {
  /** Decrypted Parquet segment files (in the worker: anonymous memory files, memory-files.ts). */
  segmentFiles: string[]
  memoryLimit?: string
  threads?: number
  /**
   * `in-place` (default): `data` is a view DuckDB scans from the segment files on each query (in
   * a worker they are memory files); `table`: copied into a DuckDB table first. A `rowUnit` always loads a table.
   */
  load?: 'in-place' | 'table'
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
  /**
   * Runs one statement with a timeout; DuckDB errors become `code`. QUERY_FAILED (a query over the
   * rows) gets one fixed message whatever happened, timeouts and memory included: DuckDB's text
   * can quote row values, and which error it was can depend on them.
   */
  query(sql: string, opts?: { timeoutMs?: number; params?: unknown[]; code?: 'QUERY_REFUSED' | 'QUERY_FAILED' | 'INTERNAL' }): Promise<QueryResult>
  /**
   * Runs one statement over the rows and hands them to `each` chunk by chunk, in order (a
   * per-unit function job reads its rows so, never all at once). A DuckDB error is QUERY_FAILED
   * with the fixed text; an error `each` throws passes through as it is.
   */
  stream(sql: string, each: (columns: string[], rows: unknown[][]) => Promise<void> | void): Promise<void>
  /** Column names and DuckDB types of `data`. */
  explainColumns(): Promise<{ name: string; type: string }[]>
  close(): Promise<void>
}

export const DEFAULT_TIMEOUT_MS = 30_000
/** The one text an analyst sees for a query that failed on the rows. */
export const QUERY_FAILED_MESSAGE = 'The query could not be completed within the worker limits'

export async function openAnalysisRunner(opts: RunnerOptions): Promise<AnalysisRunner> {
  const files = opts.segmentFiles.map((f) => resolve(f))
  if (files.length === 0) throw new W3aError('INVALID_ARGUMENT', 'An analysis needs at least one segment file')
  for (const f of files) {
    // DuckDB expands globs: a * ? [ in a path would read other files.
    if (/[*?[]/.test(f)) throw new W3aError('INVALID_ARGUMENT', 'Segment file names with * ? or [ are not supported')
  }
  let instance: DuckDBInstance | undefined
  let conn: DuckDBConnection | undefined
  const cleanup = async () => {
    conn?.closeSync()
    instance?.closeSync()
    conn = undefined
    instance = undefined
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
        if (q.code === 'QUERY_FAILED') throw new W3aError('QUERY_FAILED', QUERY_FAILED_MESSAGE, { cause: e })
        if (timedOut) throw new W3aError('QUERY_REFUSED', `The query ran longer than ${timeoutMs} ms and was stopped`, { cause: e })
        throw new W3aError(q.code ?? 'QUERY_REFUSED', `DuckDB refused the query: ${duckdbMessage(e)}`, { cause: e })
      } finally {
        clearTimeout(timer)
      }
    },
    async stream(sql, each) {
      const failed = (e: unknown) => new W3aError('QUERY_FAILED', QUERY_FAILED_MESSAGE, { cause: e })
      let result
      try {
        result = await live().stream(sql)
      } catch (e) {
        throw failed(e)
      }
      const columns = result.columnNames()
      for (;;) {
        let chunk
        try {
          chunk = await result.fetchChunk()
        } catch (e) {
          throw failed(e)
        }
        if (chunk === null || chunk.rowCount === 0) return
        await each(columns, chunk.getRows() as unknown[][])
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
      // No temp directory: nothing spills.
      temp_directory: '',
      // Results are ordered by their ORDER BY (or by the gate), never by scan order, and keeping scan
      // order costs memory in big aggregates; a numbered row unit keeps it (row_number() OVER () must
      // number the rows in the files' order, the same on every worker).
      preserve_insertion_order: opts.rowUnit === undefined ? 'false' : 'true',
    })
    conn = await instance.connect()
    // Load first (the only SQL text here is our own file list and column names, quoted), then
    // shut every door: after this no other file is readable, nothing writable, and no setting can change.
    const source = `read_parquet([${files.map(sqlString).join(', ')}])`
    const rowUnit = opts.rowUnit === undefined ? '' : `, row_number() OVER () AS ${sqlIdent(opts.rowUnit)}`
    let select = '*'
    if (opts.selectColumns) {
      const described = await conn.runAndReadAll(`DESCRIBE SELECT *${rowUnit} FROM ${source}`)
      const schema = described.getRows().map((row) => ({ name: String(row[0]), type: String(row[1]) }))
      const keep = new Set((await opts.selectColumns(schema, parserOf(runner))).map((c) => c.toLowerCase()))
      const loaded = schema.filter((c) => keep.has(c.name.toLowerCase()) && c.name !== opts.rowUnit)
      // An empty select list is no SQL; keep one column so that count(*) still counts rows.
      select = (loaded.length > 0 ? loaded : schema.slice(0, 1)).map((c) => sqlIdent(c.name)).join(', ')
    }
    if (opts.rowUnit === undefined && (opts.load ?? 'in-place') === 'in-place') {
      // Scan the segments in place (no copy into a table): `data` is a view of them, and the
      // lock-down leaves exactly these files readable, which is what `data` exposes anyway.
      await conn.run(`CREATE VIEW data AS SELECT ${select} FROM ${source}`)
      await conn.run(`SET allowed_paths = [${files.map(sqlString).join(', ')}]`)
    } else {
      // Row numbers must stay the same across the job's queries: a table, numbered once.
      await conn.run(`CREATE TABLE data AS SELECT ${select}${rowUnit} FROM ${source}`)
    }
    await conn.run('SET enable_external_access = false')
    await conn.run('SET lock_configuration = true')
  } catch (e) {
    await cleanup()
    if (e instanceof W3aError) throw e
    // The cause stays in the enclave: a loader message could quote a value.
    throw new W3aError('INPUT_MALFORMED', 'The segments cannot be loaded', { cause: e })
  }
  return runner
}

/** DuckDB's own parser through the runner: SQL text → parse tree JSON and back, nothing executed. */
export function parserOf(runner: Pick<AnalysisRunner, 'query'>): SqlParser {
  const one = async (fn: string, arg: string) => {
    const r = await runner.query(`SELECT ${fn}($1::VARCHAR)`, { params: [arg] })
    return String(r.rows[0]?.[0] ?? '')
  }
  return { serialize: (s) => one('json_serialize_sql', s), deserialize: (j) => one('json_deserialize_sql', j) }
}
