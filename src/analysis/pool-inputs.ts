/**
 * A pool job's input, made inside the worker from its contributions' decrypted segments: each
 * contribution is checked against the pool's schema (names and types, in order) and copied,
 * with the column `contributor` set to its owner as custody holds it, into one anonymous memory
 * file (memory-files.ts). Nothing a contributor wrote decides whose unit a row is, and a
 * contribution whose segments do not have the pool's schema (or do not read) is left out, not
 * allowed to fail the whole job.
 *
 * Weights (the royalty split, src/chain/royalty-tree.ts): per contributor, the number of privacy
 * units its rows bring into the job's input, which is 1 (the unit is the contributor), for a
 * contributor with at least one row. They count the input the analysis ran on, not the rows
 * that passed its filters: a weight list by filter would publish who matched the query.
 */
import { DuckDBInstance } from '@duckdb/node-api'
import type { Address } from 'viem'
import { sqlIdent, sqlString } from '../storage/duckdb-sandbox.js'
import { POOL_UNIT_COLUMN, type ColumnSchema } from '../storage/index.js'
import type { MemoryFiles } from './memory-files.js'

export type PoolInput = { owner: Address; files: string[] }
export type PoolInputs = {
  /** One memory file per contribution kept, with the pool's columns and `contributor`. */
  files: string[]
  /** Per contributor kept (ascending), its units. */
  weights: { contributor: Address; weight: bigint }[]
  /** Contributions left out: wrong schema, unreadable, or no rows. */
  excluded: number
  rows: number
}

export async function buildPoolInputs(p: { inputs: PoolInput[]; schema: ColumnSchema[]; memory: MemoryFiles; memoryLimit?: string }): Promise<PoolInputs> {
  const instance = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    memory_limit: p.memoryLimit ?? '1GB',
    threads: '1',
    // No temp directory: nothing spills to disk.
    temp_directory: '',
  })
  const conn = await instance.connect()
  const files: string[] = []
  const units = new Map<Address, bigint>()
  let excluded = 0
  let rows = 0
  const want = p.schema.map((c) => `${c.name}:${c.type}`).join(',')
  const columns = p.schema.map((c) => sqlIdent(c.name)).join(', ')
  try {
    for (const input of p.inputs) {
      if (input.files.length === 0) {
        excluded++
        continue
      }
      const source = `read_parquet([${input.files.map(sqlString).join(', ')}])`
      try {
        const described = await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`)
        const have = described.getRows().map((r) => `${String(r[0])}:${String(r[1])}`).join(',')
        const count = Number((await conn.runAndReadAll(`SELECT count(*) FROM ${source}`)).getRows()[0]![0])
        if (have !== want || count === 0) {
          excluded++
          continue
        }
        const out = await p.memory.create()
        const owner = input.owner.toLowerCase() as Address
        await conn.run(`COPY (SELECT ${columns}, ${sqlString(owner)} AS ${sqlIdent(POOL_UNIT_COLUMN)} FROM ${source}) TO ${sqlString(out.path)} (FORMAT parquet, USE_TMP_FILE false)`)
        files.push(out.path)
        units.set(owner, 1n)
        rows += count
      } catch {
        // Unreadable segments (not Parquet, truncated): that contribution only is left out.
        excluded++
      }
    }
  } finally {
    conn.closeSync()
    instance.closeSync()
  }
  const weights = [...units.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([contributor, weight]) => ({ contributor, weight }))
  return { files, weights, excluded, rows }
}
