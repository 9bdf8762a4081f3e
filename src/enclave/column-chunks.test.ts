import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DuckDBInstance } from '@duckdb/node-api'
import { registerColumns } from './column-chunks.js'

test('a table function of JS columns yields every row in order, as the declared types, on each scan', async () => {
  const db = await DuckDBInstance.create(':memory:', { threads: '1' })
  const conn = await db.connect()
  try {
    const n = 5000 // three chunks
    const list = registerColumns(conn, 'rows_js', n, [
      { name: 'few', type: 'VARCHAR', value: (i) => ['', 'a,"b"', 'ü\n🚀'][i % 3]! }, // an ENUM on the way
      { name: 'many', type: 'VARCHAR', value: (i) => `v${i}` }, // plain VARCHAR
      { name: 'gaps', type: 'VARCHAR', value: (i) => (i % 2 ? null : 'x') }, // NULLs: plain VARCHAR
      { name: 'i', type: 'INTEGER', value: (i) => i },
      { name: 'd', type: 'DOUBLE', value: (i) => (i % 4 ? i / 4 : null) },
    ])
    const sql = `SELECT ${list} FROM rows_js()`
    const types = (await conn.runAndReadAll(`DESCRIBE ${sql}`)).getRowObjectsJson().map((r) => r['column_type'])
    assert.deepEqual(types, ['VARCHAR', 'VARCHAR', 'VARCHAR', 'INTEGER', 'DOUBLE'])
    for (let scan = 0; scan < 2; scan++) {
      const got = (await conn.runAndReadAll(sql)).getRowObjectsJson()
      assert.equal(got.length, n)
      got.forEach((r, i) => assert.deepEqual(r, { few: ['', 'a,"b"', 'ü\n🚀'][i % 3], many: `v${i}`, gaps: i % 2 ? null : 'x', i, d: i % 4 ? i / 4 : null }, `scan ${scan} row ${i}`))
    }
  } finally {
    conn.closeSync()
    db.closeSync()
  }
})
