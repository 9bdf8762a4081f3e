import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import type { Address } from 'viem'
import { createMemoryFiles } from './memory-files.js'
import { buildPoolInputs } from './pool-inputs.js'

const dir = mkdtempSync(join(tmpdir(), 'w3a-pool-inputs-'))
after(() => rmSync(dir, { recursive: true, force: true }))

async function parquet(name: string, select: string): Promise<string> {
  const path = join(dir, `${name}.parquet`)
  const db = await DuckDBInstance.create(':memory:')
  const c = await db.connect()
  await c.run(`COPY (${select}) TO '${path}' (FORMAT parquet)`)
  c.closeSync()
  db.closeSync()
  return path
}

const alice = '0x00000000000000000000000000000000000000a1' as Address
const bob = '0x00000000000000000000000000000000000000b2' as Address
const carol = '0x00000000000000000000000000000000000000c3' as Address
const mallory = '0x00000000000000000000000000000000000000d4' as Address

describe('a pool job input: the contributor is set by the worker, a contribution off the schema is left out', () => {
  it('sets each row\'s unit to its contribution\'s owner; leaves out a wrong schema, a forged unit column, empty and unreadable contributions', async () => {
    const schema = [{ name: 'age', type: 'BIGINT' }, { name: 'score', type: 'DOUBLE' }]
    const good = await parquet('alice', 'SELECT 30::BIGINT AS age, 1.5::DOUBLE AS score UNION ALL SELECT 31, 2.5')
    const good2 = await parquet('bob', 'SELECT 40::BIGINT AS age, 3.0::DOUBLE AS score')
    const wrongType = await parquet('carol', "SELECT '40' AS age, 3.0::DOUBLE AS score")
    // A contributor who writes the unit column itself to pass for someone else (or for many people).
    const forged = await parquet('mallory', `SELECT 50::BIGINT AS age, 1.0::DOUBLE AS score, '${alice}' AS contributor`)
    const empty = await parquet('empty', 'SELECT 1::BIGINT AS age, 1.0::DOUBLE AS score WHERE false')
    const memory = createMemoryFiles()
    try {
      const out = await buildPoolInputs({
        schema,
        memory,
        inputs: [
          { owner: alice, files: [good] },
          { owner: bob, files: [good2] },
          { owner: carol, files: [wrongType] },
          { owner: mallory, files: [forged] },
          { owner: mallory, files: [empty] },
          { owner: mallory, files: [join(dir, 'missing.parquet')] },
          { owner: mallory, files: [] },
        ],
      })
      assert.deepEqual(out.weights, [{ contributor: alice, weight: 1n }, { contributor: bob, weight: 1n }])
      assert.equal(out.excluded, 5)
      assert.equal(out.rows, 3)
      const db = await DuckDBInstance.create(':memory:')
      const c = await db.connect()
      const rows = (await c.runAndReadAll(`SELECT contributor, age FROM read_parquet([${out.files.map((f) => `'${f}'`).join(', ')}]) ORDER BY age`)).getRows()
      c.closeSync()
      db.closeSync()
      assert.deepEqual(rows.map((r) => [r[0], Number(r[1])]), [[alice, 30], [alice, 31], [bob, 40]])
    } finally {
      await memory.close()
    }
  })
})
