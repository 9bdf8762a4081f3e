/**
 * A site's rows as a W3A dataset (docs/site-owner.md, "The site's dataset"): the column schema,
 * the Parquet segment a batch of rows becomes, sealed with the site's dataset key in the
 * envelope of every upload (src/crypto/envelope.ts), and the manifest that appends it.
 *
 * Plaintext stays in memory: DuckDB reads the rows from JS arrays and the Parquet comes back
 * through an anonymous memory file (memory-files.ts); only the sealed segment leaves.
 *
 * Session metrics are columns a flat aggregate can sum (the SQL checker allows no subqueries or
 * window functions, and DP counts distinct privacy units only): per event
 *   pageview      1 for a page view
 *   session_start 1 on a visit's first event            → visits = sum(session_start)
 *   bounce        +1 on a visit's first page view, −1 on its second → bounced visits = sum(bounce)
 *   duration_s    seconds since the visit's previous event          → total visit time = sum(duration_s)
 */
import { DuckDBInstance } from '@duckdb/node-api'
import { CID } from 'multiformats/cid'
import { W3aError } from '../core/errors.js'
import { createMemoryFiles } from '../analysis/memory-files.js'
import { registerColumns, type JsColumn } from './column-chunks.js'
import { DEFAULT_CHUNK_SIZE, ENVELOPE_VERSION, encryptSegment } from '../crypto/envelope.js'
import { createMemoryBlockstore, exportCar, importBytes, type DatasetManifest, type TableSchema } from '../storage/index.js'
import { sqlString } from '../storage/duckdb-sandbox.js'
import type { CustodyPolicyInput } from '../custody/policy.js'
import type { Enriched } from './ingest-enrich.js'

/** What a segment row is made from (ingest.ts EventRow; the labels are ingest-enrich.ts's). */
export type SegmentRow = Enriched & {
  ts: number
  visitor: string
  session: string
  name: string
  entryPage: string
  props: string
  revenueAmount: string
  revenueCurrency: string
  sessionStart: number
  bounce: number
  durationS: number
  country?: string
}

type ColumnDef = { name: string; type: 'TIMESTAMP' | 'VARCHAR' | 'INTEGER' | 'DOUBLE'; of: (r: SegmentRow, exitPage: string) => string | number | null }

const iso = (ms: number) => new Date(ms).toISOString()
/** ISO week's Monday, YYYY-MM-DD (UTC). */
function weekOf(ms: number): string {
  const d = new Date(ms)
  const monday = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - ((d.getUTCDay() + 6) % 7) * 86_400_000
  return iso(monday).slice(0, 10)
}

type TimeParts = { hour: string; day: string; week: string; month: string }
let partsHour = NaN
let parts: TimeParts = { hour: '', day: '', week: '', month: '' }
/** A time's hour, day, week and month labels: made once an hour, as a segment's rows come in time order. */
function timeParts(ms: number): TimeParts {
  const h = Math.floor(ms / 3_600_000)
  if (h !== partsHour) {
    const s = iso(ms)
    parts = { hour: `${s.slice(0, 10)} ${s.slice(11, 13)}:00:00`, day: s.slice(0, 10), week: weekOf(ms), month: s.slice(0, 7) }
    partsHour = h
  }
  return parts
}

/** The site schema, in column order (docs/site-owner.md lists it for people). */
export const SITE_COLUMNS: readonly ColumnDef[] = [
  { name: 'ts', type: 'TIMESTAMP', of: (r) => r.ts },
  { name: 'hour', type: 'VARCHAR', of: (r) => timeParts(r.ts).hour },
  { name: 'day', type: 'VARCHAR', of: (r) => timeParts(r.ts).day },
  { name: 'week', type: 'VARCHAR', of: (r) => timeParts(r.ts).week },
  { name: 'month', type: 'VARCHAR', of: (r) => timeParts(r.ts).month },
  { name: 'visitor_id', type: 'VARCHAR', of: (r) => r.visitor },
  { name: 'session_id', type: 'VARCHAR', of: (r) => r.session },
  { name: 'name', type: 'VARCHAR', of: (r) => r.name },
  { name: 'page', type: 'VARCHAR', of: (r) => r.page },
  { name: 'hostname', type: 'VARCHAR', of: (r) => r.hostname },
  { name: 'source', type: 'VARCHAR', of: (r) => r.source },
  { name: 'channel', type: 'VARCHAR', of: (r) => r.channel },
  { name: 'utm_source', type: 'VARCHAR', of: (r) => r.utmSource },
  { name: 'utm_medium', type: 'VARCHAR', of: (r) => r.utmMedium },
  { name: 'utm_campaign', type: 'VARCHAR', of: (r) => r.utmCampaign },
  { name: 'utm_content', type: 'VARCHAR', of: (r) => r.utmContent },
  { name: 'utm_term', type: 'VARCHAR', of: (r) => r.utmTerm },
  { name: 'entry_page', type: 'VARCHAR', of: (r) => r.entryPage },
  { name: 'exit_page', type: 'VARCHAR', of: (_r, exit) => exit },
  { name: 'device', type: 'VARCHAR', of: (r) => r.device },
  { name: 'browser', type: 'VARCHAR', of: (r) => r.browser },
  { name: 'os', type: 'VARCHAR', of: (r) => r.os },
  { name: 'country', type: 'VARCHAR', of: (r) => r.country ?? '' },
  { name: 'props', type: 'VARCHAR', of: (r) => r.props },
  { name: 'revenue_amount', type: 'DOUBLE', of: (r) => (r.revenueAmount === '' ? null : Number(r.revenueAmount)) },
  { name: 'revenue_currency', type: 'VARCHAR', of: (r) => r.revenueCurrency },
  { name: 'pageview', type: 'INTEGER', of: (r) => (r.name === 'pageview' ? 1 : 0) },
  { name: 'session_start', type: 'INTEGER', of: (r) => r.sessionStart },
  { name: 'bounce', type: 'INTEGER', of: (r) => r.bounce },
  { name: 'duration_s', type: 'DOUBLE', of: (r) => r.durationS },
]

export const SITE_SCHEMA: TableSchema = { columns: SITE_COLUMNS.map((c) => ({ name: c.name, type: c.type })) }
export const SITE_PRIVACY_UNIT = 'visitor_id'
/** A session's gap rule bounds the seconds one event adds to a visit. */
export const MAX_DURATION_S = 1800

/**
 * A site's policy at registration: the safe default (DP at the default ε, k = 10) with the site
 * schema's column classes and measure bounds, so the Stats API's queries run under it as they are,
 * and per-unit functions allowed (always DP: a function's answer is never exact).
 */
export const SITE_POLICY: CustodyPolicyInput = {
  // Per-unit functions answer what needs a visitor's events in order (time on page, funnels: src/sdk/site-unit-functions.ts).
  analyses: ['sql', 'function'],
  columns: {
    identifiers: ['visitor_id', 'session_id'],
    dimensions: SITE_COLUMNS.filter((c) => c.type === 'VARCHAR' || c.type === 'TIMESTAMP').map((c) => c.name).filter((n) => n !== 'visitor_id' && n !== 'session_id'),
    measures: ['pageview', 'session_start', 'bounce', 'duration_s', 'revenue_amount'],
  },
  bounds: { pageview: [0, 1], session_start: [0, 1], bounce: [-1, 1], duration_s: [0, MAX_DURATION_S], revenue_amount: [0, 10_000] },
}

/** Each row's exit page: its visit's last page view's page among `rows` (as of this batch), or ''. */
function exitPages(rows: readonly SegmentRow[]): string[] {
  const exits = new Map<string, { ts: number; page: string }>()
  for (const r of rows) {
    if (r.name !== 'pageview') continue
    const seen = exits.get(r.session)
    if (!seen) exits.set(r.session, { ts: r.ts, page: r.page })
    else if (r.ts >= seen.ts) { seen.ts = r.ts; seen.page = r.page }
  }
  return rows.map((r) => exits.get(r.session)?.page ?? '')
}

/** The rows as one Parquet file (site schema), made in memory. Zero rows make an empty segment. */
export async function siteRowsToParquet(rows: readonly SegmentRow[]): Promise<Uint8Array> {
  const memory = createMemoryFiles()
  const instance = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false', temp_directory: '', threads: '1' })
  const conn = await instance.connect()
  try {
    const out = await memory.create()
    const exits = exitPages(rows)
    // DuckDB reads the rows column by column from JS (column-chunks.ts): no text a row to build
    // and parse, which cost most of a segment's CPU. The time comes as epoch ms and leaves a TIMESTAMP.
    const list = registerColumns(conn, 'segment_rows', rows.length, SITE_COLUMNS.map((c): JsColumn => ({
      name: c.name,
      type: c.type === 'TIMESTAMP' ? 'DOUBLE' : c.type,
      value: (i) => c.of(rows[i]!, exits[i]!),
    })))
    const select = SITE_COLUMNS.map((c) => (c.type === 'TIMESTAMP' ? `epoch_ms(CAST(${c.name} AS BIGINT)) AS ${c.name}` : c.name)).join(', ')
    await conn.run(`COPY (SELECT ${select} FROM (SELECT ${list} FROM segment_rows())) TO ${sqlString(out.path)} (FORMAT parquet, USE_TMP_FILE false)`)
    const size = (await out.handle.stat()).size
    const bytes = new Uint8Array(size)
    await out.handle.read(bytes, 0, size, 0)
    return bytes
  } catch (cause) {
    // DuckDB's message could quote a value: it stays here.
    throw new W3aError('INTERNAL', 'the site segment could not be written', { cause })
  } finally {
    conn.closeSync()
    instance.closeSync()
    await memory.close()
  }
}

/** A sealed segment: its UnixFS root, ciphertext size and the CAR that carries it to storage. */
export type SealedSegment = { cid: CID; size: number; car: Uint8Array }

/** Seals a Parquet segment with the site's dataset key (same envelope and AAD as uploads), as a CAR. */
export async function sealSiteSegment(p: { dek: Uint8Array; site: `0x${string}`; segmentIndex: number; parquet: Uint8Array }): Promise<SealedSegment> {
  const sealed = encryptSegment({ key: p.dek, chunkSize: DEFAULT_CHUNK_SIZE, context: { datasetId: p.site, segmentIndex: p.segmentIndex } }, p.parquet)
  p.parquet.fill(0)
  const blocks = createMemoryBlockstore()
  const { cid, size } = await importBytes(blocks, sealed)
  const parts: Uint8Array[] = []
  for await (const part of exportCar(blocks, cid)) parts.push(part)
  return { cid, size, car: Buffer.concat(parts) }
}

/** The next version of a site's manifest: the previous one with `segment` appended. */
export function appendSegment(prev: DatasetManifest, segment: { cid: CID; rows: number; size: number }): DatasetManifest {
  return { ...prev, schema: SITE_SCHEMA, rows: prev.rows + segment.rows, segments: [...prev.segments, segment], envelope: { version: ENVELOPE_VERSION, cipher: 'AES-256-GCM', chunkSize: DEFAULT_CHUNK_SIZE, kdf: 'HKDF-SHA256' }, createdAt: new Date().toISOString() }
}
