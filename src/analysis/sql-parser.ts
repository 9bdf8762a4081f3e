/**
 * DuckDB's parser alone, for checking a query where there is no data: an in-memory DuckDB
 * with no table, external access off and configuration locked before any query text arrives.
 * The text is only ever bound as a parameter of json_serialize_sql / json_deserialize_sql
 * (parserOf): nothing the analyst wrote is executed. The CLI uses it to run the worker's own
 * checker on the analyst's machine before a query is paid for (public-check.ts).
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { W3aError } from '../core/errors.js'
import { duckdbMessage } from '../storage/duckdb-sandbox.js'
import { parserOf } from './duckdb-runner.js'
import type { SqlParser } from './sql-checker.js'

export type SqlParserHandle = SqlParser & { close(): void }

export async function openSqlParser(): Promise<SqlParserHandle> {
  const instance = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false', threads: '1' })
  let conn: DuckDBConnection | undefined
  try {
    conn = await instance.connect()
    await conn.run('SET enable_external_access = false')
    await conn.run('SET lock_configuration = true')
  } catch (e) {
    conn?.closeSync()
    instance.closeSync()
    throw new W3aError('INTERNAL', `DuckDB cannot start: ${duckdbMessage(e)}`, { cause: e })
  }
  const c = conn
  const parser = parserOf({
    async query(sql, q = {}) {
      try {
        const reader = await c.runAndReadAll(sql, q.params as never)
        return { columns: reader.columnNames().map((name) => ({ name, type: 'VARCHAR' })), rows: reader.getRows() as unknown[][] }
      } catch (e) {
        throw new W3aError(q.code ?? 'QUERY_REFUSED', `DuckDB refused the query: ${duckdbMessage(e)}`, { cause: e })
      }
    },
  })
  return {
    ...parser,
    close() {
      c.closeSync()
      instance.closeSync()
    },
  }
}
