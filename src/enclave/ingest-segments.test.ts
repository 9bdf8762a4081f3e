import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { SITE_COLUMNS, siteRowsToParquet, type SegmentRow } from './ingest-segments.js'

const base: SegmentRow = {
  ts: Date.UTC(2026, 11, 31, 23, 59, 59, 250), // a Thursday: its ISO week starts Monday 2026-12-28
  visitor: 'v1', session: 's1', name: 'pageview', hostname: 'shop.example', page: '/', source: 'Direct / None', channel: 'Direct',
  utmSource: '', utmMedium: '', utmCampaign: '', utmContent: '', utmTerm: '', device: 'Laptop', browser: 'Chrome', os: 'Mac',
  entryPage: '/', props: '', revenueAmount: '', revenueCurrency: '', sessionStart: 1, bounce: 1, durationS: 0, country: '',
}

test('a segment keeps every value as given: quotes, newlines, unicode, commas; empty text stays empty, no revenue is NULL; time labels by UTC hour', async () => {
  const rows: SegmentRow[] = [
    base,
    { ...base, ts: base.ts - 1000, name: 'Signup', page: '/a "quoted", \\ back\nslash', props: JSON.stringify({ plan: 'pro "x"', n: 3 }), revenueAmount: '49.5', revenueCurrency: 'EUR', utmTerm: 'ünïcödé 🚀', sessionStart: 0, bounce: 0, durationS: 1 },
    { ...base, ts: Date.UTC(2027, 0, 1, 0, 0, 0), session: 's2', page: '/next', country: 'DE', bounce: -1, durationS: 1800 },
  ]
  const dir = mkdtempSync(join(tmpdir(), 'w3a-seg-'))
  const db = await DuckDBInstance.create(':memory:')
  const conn = await db.connect()
  try {
    const file = join(dir, 's.parquet')
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
  } finally {
    conn.closeSync()
    db.closeSync()
    rmSync(dir, { recursive: true, force: true })
  }
})
