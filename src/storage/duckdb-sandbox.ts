/**
 * A throw-away in-memory DuckDB that can touch only the files it was given. External
 * access is switched off and the configuration locked before any user-controlled SQL
 * text (file names) runs, so even a hostile file name cannot reach other files,
 * extensions or the network. Owner side only: this reads plaintext.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, sep } from 'node:path'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { W3aError } from '../core/errors.js'
import { sqlString } from './sql-literal.js'

export type FileAccess = {
  /** Exact files DuckDB may read or write. */
  files?: string[]
  /** Directories (recursively) DuckDB may read and write. */
  dirs?: string[]
}

export async function withSandboxedDuckDb<T>(access: FileAccess, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  // Spill files hold plaintext: keep them in a private dir we delete, not DuckDB's `./.tmp`.
  const spill = await mkdtemp(join(tmpdir(), 'w3a-duckdb-'))
  let instance: DuckDBInstance | undefined
  let conn: DuckDBConnection | undefined
  try {
    instance = await DuckDBInstance.create(':memory:', {
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
    })
    conn = await instance.connect()
    await conn.run(`SET temp_directory = ${sqlString(spill)}`)
    const files = access.files ?? []
    const dirs = (access.dirs ?? []).map((d) => (d.endsWith(sep) ? d : d + sep))
    if (files.length > 0) await conn.run(`SET allowed_paths = [${files.map(sqlString).join(', ')}]`)
    if (dirs.length > 0) await conn.run(`SET allowed_directories = [${dirs.map(sqlString).join(', ')}]`)
    await conn.run('SET enable_external_access = false')
    await conn.run('SET lock_configuration = true')
    return await fn(conn)
  } finally {
    conn?.closeSync()
    instance?.closeSync()
    await rm(spill, { recursive: true, force: true })
  }
}

export { sqlString, sqlIdent } from './sql-literal.js'

/**
 * DuckDB's error, cut down to what is safe to show and log: its CSV errors echo the
 * offending row ("Original Line: …") and conversion errors echo the value, and those
 * are the owner's private data. Keeps the line number and the reason.
 */
export function duckdbMessage(e: unknown): string {
  const msg = String((e as Error)?.message ?? e)
  const csvLine = /CSV Error on Line: (\d+)/.exec(msg)
  if (csvLine !== null) {
    const reasons = [
      /Expected Number of Columns: \d+ Found: \d+/,
      /Value with unterminated quote found\./,
      /Invalid unicode \(byte sequence mismatch\)[^\n]*/,
      /Maximum line size of \d+ bytes exceeded[^\n]*/,
      /Error when converting column "[^"\n]*"/,
    ]
      .map((r) => r.exec(msg)?.[0])
      .filter((r): r is string => r !== undefined)
    return `line ${csvLine[1]}: ${reasons.length > 0 ? reasons.join('; ') : 'the row cannot be parsed'}`
  }
  const first = msg.split('\n')[0] ?? msg
  return first.replace(/(Could not convert string )(["'])(?:(?!\2).)*\2/g, '$1<value>').trim()
}
