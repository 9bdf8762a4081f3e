import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { W3aError } from '../core/errors.js'
import { SITE_COLUMNS, siteRowsToParquet, type SegmentRow } from './ingest-segments.js'

const base: SegmentRow = {
  ts: Date.UTC(2026, 11, 31, 23, 59, 59, 250), // a Thursday: its ISO week starts Monday 2026-12-28
  visitor: 'v1', session: 's1', name: 'pageview', hostname: 'shop.example', page: '/', source: 'Direct / None', channel: 'Direct',
  utmSource: '', utmMedium: '', utmCampaign: '', utmContent: '', utmTerm: '', device: 'Laptop', browser: 'Chrome', os: 'Mac',
  entryPage: '/', props: '', revenueAmount: '', revenueCurrency: '', sessionStart: 1, bounce: 1, durationS: 0, country: '',
}

/** Runs `fn` on a DuckDB connection beside a file for a segment's Parquet, as the worker reads it. */
async function withReader(fn: (conn: DuckDBConnection, file: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'w3a-seg-'))
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    await fn(conn, join(dir, 's.parquet'))
  } finally {
    conn.closeSync()
    db.closeSync()
    rmSync(dir, { recursive: true, force: true })
  }
}

test('a segment keeps every value as given: quotes, newlines, unicode, commas; empty text stays empty, no revenue is NULL; time labels by UTC hour', async () => {
  const rows: SegmentRow[] = [
    base,
    { ...base, ts: base.ts - 1000, name: 'Signup', page: '/a "quoted", \\ back\nslash', props: JSON.stringify({ plan: 'pro "x"', n: 3 }), revenueAmount: '49.5', revenueCurrency: 'EUR', utmTerm: 'ünïcödé 🚀', sessionStart: 0, bounce: 0, durationS: 1 },
    { ...base, ts: Date.UTC(2027, 0, 1, 0, 0, 0), session: 's2', page: '/next', country: 'DE', bounce: -1, durationS: 1800 },
  ]
  await withReader(async (conn, file) => {
    writeFileSync(file, await siteRowsToParquet(rows))
    const reader = await conn.runAndReadAll(`SELECT ${SITE_COLUMNS.map((c) => (c.type === 'TIMESTAMP' ? `epoch_ms(${c.name}) AS ${c.name}` : c.name)).join(', ')} FROM read_parquet('${file}')`)
    const got = reader.getRowObjectsJson()
    assert.equal(got.length, 3)
    assert.deepEqual(got.map((r) => [r['ts'], r['hour'], r['day'], r['week'], r['month']]), [
      [String(base.ts), '2026-12-31 23:00:00', '2026-12-31', '2026-12-28', '2026-12'],
      [String(base.ts - 1000), '2026-12-31 23:00:00', '2026-12-31', '2026-12-28', '2026-12'],
      [String(Date.UTC(2027, 0, 1)), '2027-01-01 00:00:00', '2027-01-01', '2026-12-28', '2027-01'],
    ])
    assert.deepEqual(got.map((r) => [r['page'], r['props'], r['utm_term'], r['revenue_amount'], r['revenue_currency'], r['country']]), [
      ['/', '', '', null, '', ''],
      ['/a "quoted", \\ back\nslash', '{"plan":"pro \\"x\\"","n":3}', 'ünïcödé 🚀', 49.5, 'EUR', ''],
      ['/next', '', '', null, '', 'DE'],
    ])
    assert.deepEqual(got.map((r) => [r['pageview'], r['session_start'], r['bounce'], r['duration_s'], r['exit_page']]), [
      [1, 1, 1, 0, '/'],
      [0, 0, 0, 1, '/'], // a custom event is no page view: the visit's exit page is its last page view's
      [1, 1, -1, 1800, '/next'],
    ])
    writeFileSync(file, await siteRowsToParquet([]))
    const empty = await conn.runAndReadAll(`SELECT count(*) AS n FROM read_parquet('${file}')`)
    assert.equal(Number(empty.getRowObjectsJson()[0]!['n']), 0)
  })
})

test('hostile strings from visitors read back exactly, row for row, across chunks of repeated and distinct values', async () => {
  // Values a browser can send: separators and quotes of every text format, newlines, escapes,
  // unicode beyond the BMP, look-alikes of NULL, and long props. Some columns repeat (they cross
  // as dictionaries), others are distinct a row; 5,000 rows span three DuckDB chunks.
  const hostile = ['', ',', 'a,b', '"', '"q"', "it's", 'line\nbreak', 'cr\r\nlf', '\ttab', '\\', '\\n', 'ünïcödé 🚀', '\u2028\u2029', '\ud7ff\ue000\uffff', 'NULL', 'null', '\\N', ' padded ', '{"k":"v"}', 'x'.repeat(70_000)]
  const rows: SegmentRow[] = Array.from({ length: 5000 }, (_, i) => ({
    ...base,
    ts: base.ts + i,
    visitor: `v${i % 600}`,
    session: `s${i % 600}`,
    name: i % 4 === 3 ? hostile[i % hostile.length]! || 'x' : 'pageview',
    page: i < 2048 ? hostile[i % hostile.length]! : `${hostile[i % hostile.length]!}/${i}`,
    utmTerm: hostile[(i * 7) % hostile.length]!,
    props: i % 5 === 0 ? JSON.stringify({ k: hostile[i % hostile.length], long: '🚀'.repeat(i % 3000), n: i }) : '',
    country: i % 2 ? 'DE' : '',
    revenueAmount: i % 9 === 0 ? String(i / 8) : '',
  }))
  const exits = new Map<string, string>()
  for (const r of rows) if (r.name === 'pageview') exits.set(r.session, r.page)
  await withReader(async (conn, file) => {
    writeFileSync(file, await siteRowsToParquet(rows))
    const got = (await conn.runAndReadAll(`SELECT epoch_ms(ts) AS ts, visitor_id, name, page, utm_term, props, country, exit_page, revenue_amount FROM read_parquet('${file}')`)).getRowObjectsJson()
    assert.equal(got.length, rows.length)
    got.forEach((g, i) => {
      const r = rows[i]!
      assert.deepEqual(g, {
        ts: String(r.ts), visitor_id: r.visitor, name: r.name, page: r.page, utm_term: r.utmTerm, props: r.props, country: r.country,
        exit_page: exits.get(r.session) ?? '', revenue_amount: r.revenueAmount === '' ? null : Number(r.revenueAmount),
      }, `row ${i}`)
    })
  })
})

test('a value that does not fit its column fails the segment with an error that quotes no value, and the process goes on', async () => {
  // DuckDB pulls the rows from JS on its own thread: a failure there must come back as a rejection.
  const rows: SegmentRow[] = Array.from({ length: 3000 }, (_, i) => ({ ...base, ts: base.ts + i, page: '/secret-page', sessionStart: i === 2500 ? 0.5 : 0 }))
  await assert.rejects(siteRowsToParquet(rows), (e: unknown) => {
    assert.ok(e instanceof W3aError)
    assert.equal(e.code, 'INTERNAL')
    assert.doesNotMatch(`${e.message} ${String((e as { cause?: unknown }).cause)}`, /secret-page|0\.5/)
    return true
  })
  assert.ok((await siteRowsToParquet([base])).length > 0)
})
