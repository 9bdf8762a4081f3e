import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { duckdbMessage, sqlIdent, sqlString, withSandboxedDuckDb } from './duckdb-sandbox.js'

const dir = await mkdtemp(join(tmpdir(), 'w3a-sandbox-test-'))
after(() => rm(dir, { recursive: true, force: true }))

test('the sandbox reads only the files it was given and cannot be unlocked', async () => {
  const allowed = join(dir, 'ok.csv')
  const other = join(dir, 'other.csv')
  await writeFile(allowed, 'a\n1\n')
  await writeFile(other, 'a\n2\n')
  await withSandboxedDuckDb({ files: [allowed] }, async (conn) => {
    assert.deepEqual((await conn.runAndReadAll(`SELECT a FROM read_csv(${sqlString(allowed)})`)).getRowsJson(), [['1']])
    await assert.rejects(conn.run(`SELECT * FROM read_csv(${sqlString(other)})`), /Permission Error/)
    await assert.rejects(conn.run(`COPY (SELECT 1) TO ${sqlString(join(dir, 'out.csv'))}`), /Permission Error/)
    await assert.rejects(conn.run('SET enable_external_access = true'), /locked/)
    await assert.rejects(conn.run('INSTALL httpfs'), /./)
  })
})

test('quoting helpers escape quotes and refuse NUL', () => {
  assert.equal(sqlString(`it's`), `'it''s'`)
  assert.equal(sqlIdent(`a"b`), `"a""b"`)
  assert.throws(() => sqlString('a\0b'))
})

test('duckdbMessage keeps the line and reason but drops the row text', () => {
  const msg =
    'Invalid Input Error: CSV Error on Line: 3\nOriginal Line: 2,"my secret\nvalue",zz\nExpected Number of Columns: 2 Found: 3\nPossible fixes:\n* ...'
  assert.equal(duckdbMessage(new Error(msg)), 'line 3: Expected Number of Columns: 2 Found: 3')
  assert.equal(
    duckdbMessage(new Error(`Conversion Error: Could not convert string 'alice@example.com' to INT64\n\nLINE 1: SELECT`)),
    'Conversion Error: Could not convert string <value> to INT64',
  )
})
