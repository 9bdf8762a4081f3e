import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import { isW3aError } from '../core/errors.js'
import { sqlString } from './duckdb-sandbox.js'
import { checkPrivacyUnit, inspectTable, writeParquetSegments, writeTable } from './table.js'

const dir = await mkdtemp(join(tmpdir(), 'w3a-table-test-'))
after(() => rm(dir, { recursive: true, force: true }))

let n = 0
async function file(name: string, content: string): Promise<string> {
  const path = join(dir, `${n++}-${name}`)
  await writeFile(path, content)
  return path
}
async function freshDir(): Promise<string> {
  return mkdtemp(join(dir, 'out-'))
}

/** Rows of any table file, read independently of the code under test. */
async function rowsOf(path: string): Promise<unknown[][]> {
  const instance = await DuckDBInstance.create(':memory:')
  const conn = await instance.connect()
  try {
    const reader = path.endsWith('.parquet') ? `read_parquet(${sqlString(path)})` : path.endsWith('.csv') ? `read_csv(${sqlString(path)})` : `read_json(${sqlString(path)})`
    return (await conn.runAndReadAll(`SELECT * FROM ${reader}`)).getRowsJson() as unknown[][]
  } finally {
    conn.closeSync()
    instance.closeSync()
  }
}

const CSV = [
  'user_id,steps,day,note',
  'u1,1200,2024-01-01,plain',
  'u2,800,2024-01-01,"has, comma"',
  'u1,,2024-01-02,"has ""quotes"""',
  'u3,5000,2024-01-02,"two',
  'lines"',
  'u2,42,2024-01-03,',
  '',
].join('\n')

test('inspectTable reads a CSV: columns with DuckDB types, row count', async () => {
  const info = await inspectTable(await file('steps.csv', CSV))
  assert.equal(info.format, 'csv')
  assert.deepEqual(info.columns, [
    { name: 'user_id', type: 'VARCHAR' },
    { name: 'steps', type: 'BIGINT' },
    { name: 'day', type: 'DATE' },
    { name: 'note', type: 'VARCHAR' },
  ])
  assert.equal(info.rows, 5)
})

test('inspectTable reads JSONL / NDJSON and Parquet', async () => {
  const jsonl = await file('e.jsonl', '{"user":"a","n":1}\n{"user":"b","n":2}\n')
  assert.deepEqual(await inspectTable(jsonl), { format: 'jsonl', columns: [{ name: 'user', type: 'VARCHAR' }, { name: 'n', type: 'BIGINT' }], rows: 2, suspect: [] })
  const ndjson = await file('e.ndjson', '{"user":"a","n":1}\n')
  assert.equal((await inspectTable(ndjson)).format, 'jsonl')
  const out = await freshDir()
  const { segments } = await writeParquetSegments(jsonl, { outDir: out, rowsPerSegment: 10 })
  assert.deepEqual(await inspectTable(segments[0]!.path), { format: 'parquet', columns: [{ name: 'user', type: 'VARCHAR' }, { name: 'n', type: 'BIGINT' }], rows: 2, suspect: [] })
})

test('a CSV row with the wrong number of fields is an error naming its line, not quoting it', async () => {
  const extra = await file('extra.csv', 'a,b\n1,x\n2,secret-value,zz\n3,w\n')
  await assert.rejects(inspectTable(extra), (e) => isW3aError(e, 'INPUT_MALFORMED') && /line 3/.test(e.message) && /Expected Number of Columns: 2 Found: 3/.test(e.message) && !e.message.includes('secret-value'))
  const short = await file('short.csv', 'a,b\n1,x\n2\n3,w\n')
  await assert.rejects(inspectTable(short), (e) => isW3aError(e, 'INPUT_MALFORMED') && /line 3/.test(e.message))
  // A bad row far down the file (DuckDB's sniffer alone once took it as the header and returned 0 rows).
  const late = await file('late.csv', `a,b\n${Array.from({ length: 50 }, (_, i) => `${i},v${i}`).join('\n')}\n51,"x,y",zz\n`)
  await assert.rejects(inspectTable(late), (e) => isW3aError(e, 'INPUT_MALFORMED') && /line 52/.test(e.message))
  const unterminated = await file('quote.csv', 'a,b\n1,"x\n')
  await assert.rejects(inspectTable(unterminated), (e) => isW3aError(e, 'INPUT_MALFORMED') && /line 2/.test(e.message) && /unterminated/.test(e.message))
  // The same rules hold when segmenting.
  await assert.rejects(writeParquetSegments(extra, { outDir: await freshDir(), rowsPerSegment: 10 }), (e) => isW3aError(e, 'INPUT_MALFORMED'))
})

test('CSV header problems are INPUT_MALFORMED', async () => {
  await assert.rejects(inspectTable(await file('dup.csv', 'a,A\n1,2\n')), (e) => isW3aError(e, 'INPUT_MALFORMED') && /twice/.test(e.message))
  await assert.rejects(inspectTable(await file('noname.csv', 'a,,c\n1,2,3\n')), (e) => isW3aError(e, 'INPUT_MALFORMED') && /no name/.test(e.message))
  await assert.rejects(inspectTable(await file('blankhead.csv', '\n1,2\n')), (e) => isW3aError(e, 'INPUT_MALFORMED'))
})

test('missing, empty or unreadable inputs are INPUT_UNREADABLE; unknown extensions INVALID_ARGUMENT', async () => {
  await assert.rejects(inspectTable(join(dir, 'nope.csv')), (e) => isW3aError(e, 'INPUT_UNREADABLE') && /no such file/.test(e.message))
  await assert.rejects(inspectTable(await file('empty.csv', '')), (e) => isW3aError(e, 'INPUT_UNREADABLE') && /empty/.test(e.message))
  await assert.rejects(inspectTable(dir + '/'), (e) => isW3aError(e, 'INVALID_ARGUMENT') || isW3aError(e, 'INPUT_UNREADABLE'))
  await assert.rejects(inspectTable(await file('data.xlsx', 'x')), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
  await assert.rejects(inspectTable(await file('glob[1].csv', 'a\n1\n')), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
})

test('malformed JSONL and Parquet are INPUT_MALFORMED', async () => {
  await assert.rejects(inspectTable(await file('bad.jsonl', '{"a":1}\n{"a":}\n{"a":3}\n')), (e) => isW3aError(e, 'INPUT_MALFORMED') && /Malformed JSON .* in line \d+/.test(e.message))
  await assert.rejects(inspectTable(await file('arr.jsonl', '[1,2]\n')), (e) => isW3aError(e, 'INPUT_MALFORMED'))
  await assert.rejects(inspectTable(await file('bad.parquet', 'this is not parquet at all')), (e) => isW3aError(e, 'INPUT_MALFORMED'))
})

test('file names with quotes are safe', async () => {
  const path = await file(`it's "quoted".csv`, 'a,b\n1,2\n')
  assert.equal((await inspectTable(path)).rows, 1)
})

test('checkPrivacyUnit finds the column or lists the available ones', async () => {
  const { columns } = await inspectTable(await file('pu.csv', CSV))
  assert.deepEqual(checkPrivacyUnit(columns, 'user_id'), { name: 'user_id', type: 'VARCHAR' })
  assert.throws(
    () => checkPrivacyUnit(columns, 'email'),
    (e) => isW3aError(e, 'PRIVACY_UNIT_MISSING') && e.message.includes('email') && e.details.join(' ').includes('user_id, steps, day, note'),
  )
})

test('CSV → Parquet segments → CSV / JSONL / Parquet keeps every row, in order', async () => {
  const src = await file('rt.csv', CSV)
  const out = await freshDir()
  const split = await writeParquetSegments(src, { outDir: out, rowsPerSegment: 2 })
  assert.equal(split.rows, 5)
  assert.deepEqual(split.segments.map((s) => s.rows), [2, 2, 1])
  assert.deepEqual(split.segments.map((s) => s.path), [0, 1, 2].map((i) => join(out, `segment-0000${i}.parquet`)))
  assert.deepEqual(split.columns, (await inspectTable(src)).columns)
  const original = await rowsOf(src)
  const paths = split.segments.map((s) => s.path)

  const csvOut = join(out, 'back.csv')
  await writeTable(paths, csvOut)
  assert.equal(await readFile(csvOut, 'utf8'), CSV, 'CSV comes back byte for byte')
  for (const ext of ['jsonl', 'ndjson', 'parquet']) {
    const target = join(out, `back.${ext}`)
    await writeTable(paths, target)
    assert.deepEqual(await rowsOf(target), original, ext)
  }
  assert.deepEqual((await readdir(out)).filter((f) => f.includes('.tmp-')), [], 'no temp files left')
})

test('a large table splits into exact segments and reassembles in file order', async () => {
  const rows = 250_000
  const lines = ['id,unit,value']
  for (let i = 0; i < rows; i++) lines.push(`${i},u${i % 977},${(i * 7919) % 10007}`)
  const src = await file('big.csv', lines.join('\n') + '\n')
  const out = await freshDir()
  const split = await writeParquetSegments(src, { outDir: out, rowsPerSegment: 100_000 })
  assert.deepEqual(split.segments.map((s) => s.rows), [100_000, 100_000, 50_000])
  const target = join(out, 'all.parquet')
  await writeTable(split.segments.map((s) => s.path), target)
  const ids = (await rowsOf(target)).map((r) => Number(r[0]))
  assert.equal(ids.length, rows)
  assert.ok(ids.every((id, i) => id === i), 'ids come back 0..n-1 in order')
})

test('a header-only table gives one empty segment that keeps the schema', async () => {
  const src = await file('head.csv', 'a,b\n')
  const split = await writeParquetSegments(src, { outDir: await freshDir(), rowsPerSegment: 10 })
  assert.equal(split.rows, 0)
  assert.deepEqual(split.segments.map((s) => s.rows), [0])
  assert.deepEqual((await inspectTable(split.segments[0]!.path)).columns.map((c) => c.name), ['a', 'b'])
})

test('writeTable: unknown extension is INVALID_ARGUMENT; a failure leaves no file behind', async () => {
  const out = await freshDir()
  const { segments } = await writeParquetSegments(await file('w.csv', 'a\n1\n'), { outDir: out, rowsPerSegment: 10 })
  await assert.rejects(writeTable([segments[0]!.path], join(out, 'x.xlsx')), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
  await assert.rejects(writeTable([], join(out, 'x.csv')), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
  const fake = await file('fake.parquet', 'not parquet')
  await assert.rejects(writeTable([segments[0]!.path, fake], join(out, 'x.csv')), (e) => isW3aError(e, 'INPUT_MALFORMED'))
  const left = (await readdir(out)).filter((f) => f.startsWith('x.'))
  assert.deepEqual(left, [])
  await assert.rejects(writeTable([segments[0]!.path], join(dir, 'no-such-dir', 'x.csv')), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
})

test('writeParquetSegments checks its options', async () => {
  const src = await file('o.csv', 'a\n1\n')
  await assert.rejects(writeParquetSegments(src, { outDir: await freshDir(), rowsPerSegment: 0 }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
  await assert.rejects(writeParquetSegments(src, { outDir: join(dir, 'missing-dir'), rowsPerSegment: 5 }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
})

test('integers too long for BIGINT stay exact text instead of rounding to DOUBLE', async () => {
  const csv = 'id,n\n12345678901234567890,1\n12345678901234567891,2\n-98765432109876543210,3\n'
  const src = await file('ids.csv', csv)
  const info = await inspectTable(src)
  assert.deepEqual(info.columns, [{ name: 'id', type: 'VARCHAR' }, { name: 'n', type: 'BIGINT' }])
  const out = await freshDir()
  const { segments } = await writeParquetSegments(src, { outDir: out, rowsPerSegment: 2 })
  await writeTable(segments.map((s) => s.path), join(out, 'ids.csv'))
  assert.equal(await readFile(join(out, 'ids.csv'), 'utf8'), csv)
})

/** 1000 rows; amount is a number but on 5 of them ("n/a", "12,5", …); note is text; a multi-line quoted field and a blank line shift the lines. */
function typoCsv(): string {
  const bad = new Map([[10, 'n/a'], [400, '"12,5"'], [401, '?'], [800, 'n/a'], [999, '1O']])
  const lines = ['id,amount,note,score']
  for (let i = 0; i < 1000; i++) {
    lines.push(`u${i},${bad.get(i) ?? String(i % 97)},${i === 5 ? '"two\nlines"' : `note ${i % 3}`},${i % 10}`)
    if (i === 200) lines.push('')
  }
  return lines.join('\n') + '\n'
}

test('a text column whose values are nearly all numbers is suspect: named, with the lines of the values that are not', async () => {
  const info = await inspectTable(await file('typos.csv', typoCsv()))
  assert.equal(info.rows, 1000)
  assert.equal(info.columns.find((c) => c.name === 'amount')?.type, 'VARCHAR')
  // Row i is on line i + 2, plus 1 after the quoted line break (row 5), plus 1 after the blank line (after row 200).
  assert.deepEqual(info.suspect, [{ column: 'amount', type: 'DOUBLE', count: 5, nonNull: 1000, lines: [13, 404, 405, 804, 1003], values: ['n/a', '12,5', '?', 'n/a', '1O'] }])
  // A text column of words, a clean numeric one and a half-numeric one are not suspect.
  const fine = await inspectTable(await file('fine.csv', 'a,b,c\nx,1,1\ny,2,z\nz,3,w\n'))
  assert.deepEqual(fine.suspect, [])
})

test('declared types: a suspect column loads as DOUBLE once fixed; a bad value under a declared type is an error naming its line', async () => {
  const typos = await file('typos2.csv', typoCsv())
  await assert.rejects(
    inspectTable(typos, { types: { amount: 'DOUBLE' } }),
    (e) => isW3aError(e, 'INPUT_MALFORMED') && /amount is declared DOUBLE, but 5 of its values are not/.test(e.message) && /line 13 "n\/a", line 404 "12,5"/.test(e.message),
  )
  const clean = await file('clean.csv', typoCsv().replace(/,n\/a,|,"12,5",|,\?,|,1O,/g, ',1.5,'))
  const info = await inspectTable(clean, { types: { AMOUNT: 'double', score: 'VARCHAR', id: 'VARCHAR' } as never })
  assert.deepEqual(info.suspect, [])
  assert.deepEqual(info.columns.map((c) => c.type), ['VARCHAR', 'DOUBLE', 'VARCHAR', 'VARCHAR'])
  const out = await freshDir()
  const written = await writeParquetSegments(clean, { outDir: out, rowsPerSegment: 600, types: { amount: 'DOUBLE', score: 'BIGINT' } })
  assert.deepEqual(written.columns.map((c) => c.type), ['VARCHAR', 'DOUBLE', 'VARCHAR', 'BIGINT'])
  const rows = await rowsOf(written.segments[0]!.path)
  assert.deepEqual(rows[10], ['u10', 1.5, 'note 1', '0']) // JSON rows: BIGINT as text
  // BIGINT takes whole numbers only (a cast would round 1.5 to 2).
  await assert.rejects(inspectTable(clean, { types: { amount: 'BIGINT' } }), (e) => isW3aError(e, 'INPUT_MALFORMED') && /line 13 "1.5"/.test(e.message))
  await assert.rejects(inspectTable(clean, { types: { nope: 'DATE' } }), (e) => isW3aError(e, 'INVALID_ARGUMENT') && /no column "nope"/.test(e.message))
})
