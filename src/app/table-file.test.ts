import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { parseCsv, readTableFile } from './table-file.js'

const EXAMPLE_CSV = join(import.meta.dirname, '..', '..', 'examples', 'visits.csv')

/** DuckDB (the worker's reader) over Parquet bytes: its DESCRIBE and rows. */
async function duck(parquet: Uint8Array, sql: string): Promise<{ describe: [string, string][]; rows: unknown[][] }> {
  const dir = mkdtempSync(join(tmpdir(), 'w3a-tablefile-'))
  try {
    const f = join(dir, 'a.parquet')
    writeFileSync(f, parquet)
    const db = await DuckDBInstance.create(':memory:')
    const conn = await db.connect()
    const d = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${f}')`)).getRows().map((r) => [String(r[0]), String(r[1])] as [string, string])
    const rows = (await conn.runAndReadAll(sql.replace('data', `read_parquet('${f}')`))).getRows()
    conn.closeSync()
    db.closeSync()
    return { describe: d, rows }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test('CSV parsing follows RFC 4180: quotes, doubled quotes, commas and line breaks inside quotes, CRLF, a BOM', () => {
  assert.deepEqual(parseCsv('\ufeffa,b\r\n"x, y","say ""hi"""\n"two\nlines",\n'), [
    ['a', 'b'],
    ['x, y', 'say "hi"'],
    ['two\nlines', ''],
  ])
  assert.throws(() => parseCsv('a\n"open'), { code: 'INVALID_ARGUMENT', message: /ends inside a quoted field/ })
})

test('a CSV becomes Parquet that DuckDB reads with the types the CLI records, NULL for empty cells', async () => {
  const csv = 'id,city,amount,n,flag\nu1,Lisbon,35.5,3,true\nu2,"Osaka, JP",,9007199254740993,false\nu3,,1e2,-4,\n'
  const t = readTableFile('t.csv', new TextEncoder().encode(csv))
  assert.equal(t.rows, 3)
  assert.deepEqual(
    t.columns.map((c) => [c.name, c.type]),
    [
      ['id', 'VARCHAR'],
      ['city', 'VARCHAR'],
      ['amount', 'DOUBLE'],
      ['n', 'BIGINT'],
      ['flag', 'BOOLEAN'],
    ],
  )
  assert.deepEqual([t.columns[2]!.min, t.columns[2]!.max], [35.5, 100])
  const [seg] = t.segments()
  const { describe, rows } = await duck(seg!.parquet, 'SELECT id, city, amount, n::VARCHAR, flag FROM data ORDER BY id')
  assert.deepEqual(describe, t.columns.map((c) => [c.name, c.type]))
  assert.deepEqual(rows, [
    ['u1', 'Lisbon', 35.5, '3', true],
    ['u2', 'Osaka, JP', null, '9007199254740993', false],
    ['u3', null, 100, '-4', null],
  ])
  // The owner may widen a type (an integer column as text), not narrow one.
  const [wide] = t.segments({ n: 'VARCHAR' })
  assert.equal((await duck(wide!.parquet, 'SELECT 1 FROM data')).describe[3]![1], 'VARCHAR')
  assert.throws(() => t.segments({ city: 'BIGINT' }), { code: 'INVALID_ARGUMENT', message: /"city" does not fit BIGINT/ })
})

test('the example CSV: the same columns, rows and sums as DuckDB reading the CSV itself', async () => {
  const t = readTableFile('visits.csv', readFileSync(EXAMPLE_CSV))
  const [seg] = t.segments()
  const ours = await duck(seg!.parquet, 'SELECT count(*), count(DISTINCT user_id), round(sum(amount), 2) FROM data')
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  const theirs = (await conn.runAndReadAll(`SELECT count(*), count(DISTINCT user_id), round(sum(amount), 2) FROM read_csv('${EXAMPLE_CSV}')`)).getRows()
  const described = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_csv('${EXAMPLE_CSV}')`)).getRows().map((r) => [String(r[0]), String(r[1])])
  conn.closeSync()
  db.closeSync()
  assert.deepEqual(ours.rows, theirs)
  assert.deepEqual(ours.describe, described, 'the types `w3a dataset upload` would record')
})

test('a Parquet file is sent as it is, its columns read from the footer as DuckDB names them', async () => {
  const t = readTableFile('t.csv', new TextEncoder().encode('a,b,c\n1,x,2.5\n'))
  const bytes = t.segments()[0]!.parquet
  const p = readTableFile('t.parquet', bytes)
  assert.equal(p.format, 'parquet')
  assert.equal(p.rows, 1)
  assert.deepEqual(p.columns.map((c) => [c.name, c.type]), (await duck(bytes, 'SELECT 1 FROM data')).describe)
  // Sent as it is, a fresh copy each time (the upload zeroes what it sealed; a retry sends the file again).
  const first = p.segments()[0]!.parquet
  assert.deepEqual(first, bytes)
  first.fill(0)
  assert.deepEqual(p.segments()[0]!.parquet, bytes)
})

test('bad files are refused naming what is wrong', () => {
  const enc = (s: string) => new TextEncoder().encode(s)
  assert.throws(() => readTableFile('t.json', enc('{}')), { code: 'INVALID_ARGUMENT', message: /neither a \.csv nor a \.parquet/ })
  assert.throws(() => readTableFile('t.csv', enc('a,b\n1,2\n3\n')), { code: 'INVALID_ARGUMENT', message: /CSV line 3 has 1 field\(s\), the header 2/ })
  assert.throws(() => readTableFile('t.csv', enc('a,a\n1,2\n')), { code: 'INVALID_ARGUMENT', message: /names "a" twice/ })
  assert.throws(() => readTableFile('t.csv', enc('a,b\n')), { code: 'INVALID_ARGUMENT', message: /no row/ })
  assert.throws(() => readTableFile('t.parquet', enc('not parquet at all')), { code: 'INVALID_ARGUMENT', message: /not a readable Parquet file/ })
})
