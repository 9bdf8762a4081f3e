/**
 * A visitor's deletion reaching a site's stored segments (issue 12, docs/visitor.md): every
 * segment of the site's current manifest is fetched (each block checked against its CID),
 * decrypted with the current site key into anonymous memory files (never to disk), the rows of
 * the deleted visitors dropped (DuckDB, `visitor_id NOT IN …`), and the segment sealed again
 * under a NEW site key with its index in the same envelope and AAD as any segment. Segments that
 * held none of their rows are sealed again as they are (the new key must open the whole
 * dataset). The owner's key wraps are made again for the new key, so the owner still downloads
 * the site; the new manifest is stored like a flush's.
 *
 * Nothing here decides when the new key takes effect: the caller (ingest.ts) keeps the new key
 * sealed before the custody RotateKey command that installs it leaves the enclave, and switches
 * only once the host reports it mined. The old segments are then unpinned (service.ts).
 */
import { readFile } from 'node:fs/promises'
import { DuckDBInstance } from '@duckdb/node-api'
import type { CID } from 'multiformats/cid'
import { W3aError } from '../core/errors.js'
import { createMemoryFiles, loadSegments, type LoadSegmentsParameters } from '../analysis/index.js'
import { wrapDatasetKey } from '../crypto/owner-wrap-key.js'
import { encodeManifest, type DatasetManifest } from '../storage/index.js'
import { carOfBlock } from '../storage/car-of-block.js'
import { sqlString } from '../storage/duckdb-sandbox.js'
import { sealSiteSegment } from './ingest-segments.js'

export type RewriteSiteSegmentsParameters = {
  site: `0x${string}`
  manifest: DatasetManifest
  oldDek: Uint8Array
  newDek: Uint8Array
  /** Pseudonymous visitor ids (ingest-visitor-rights.ts) whose rows go. */
  visitors: readonly string[]
  fetchCar: LoadSegmentsParameters['fetchCar']
  postCar: (car: Uint8Array, root: string) => Promise<void>
}

export type RewriteSiteSegmentsReturnType = {
  manifest: DatasetManifest
  manifestCid: string
  /** Rows dropped per visitor id (every visitor asked for, 0 when none was stored). */
  removed: Record<string, number>
  /** The segments the new manifest no longer links (to unpin once it is the site's). */
  replaced: CID[]
}

const VISITOR_ID = /^[0-9a-f]{1,64}$/

export async function rewriteSiteSegments(p: RewriteSiteSegmentsParameters): Promise<RewriteSiteSegmentsReturnType> {
  if (p.visitors.length === 0 || !p.visitors.every((v) => VISITOR_ID.test(v))) throw new W3aError('INVALID_ARGUMENT', 'rewriteSiteSegments: visitor ids are lowercase hex')
  const memory = createMemoryFiles()
  const instance = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false', temp_directory: '', threads: '1' })
  const conn = await instance.connect()
  const removed: Record<string, number> = Object.fromEntries(p.visitors.map((v) => [v, 0]))
  const set = `(${p.visitors.map(sqlString).join(', ')})`
  try {
    const { files } = await loadSegments({ manifest: p.manifest, dek: p.oldDek, fetchCar: p.fetchCar, memory })
    const segments: DatasetManifest['segments'] = []
    for (const [i, file] of files.entries()) {
      const counts = await conn.runAndReadAll(`SELECT visitor_id, count(*)::INTEGER FROM read_parquet(${sqlString(file)}) WHERE visitor_id IN ${set} GROUP BY visitor_id`)
      let dropped = 0
      for (const [visitor, n] of counts.getRows() as [string, number][]) {
        removed[visitor] = (removed[visitor] ?? 0) + n
        dropped += n
      }
      let source = file
      if (dropped > 0) {
        const out = await memory.create()
        await conn.run(`COPY (SELECT * FROM read_parquet(${sqlString(file)}) WHERE visitor_id NOT IN ${set}) TO ${sqlString(out.path)} (FORMAT parquet, USE_TMP_FILE false)`)
        source = out.path
      }
      const parquet = new Uint8Array(await readFile(source))
      const sealed = await sealSiteSegment({ dek: p.newDek, site: p.site, segmentIndex: i, parquet })
      await p.postCar(sealed.car, sealed.cid.toString())
      segments.push({ cid: sealed.cid, rows: p.manifest.segments[i]!.rows - dropped, size: sealed.size })
    }
    const keyWraps: DatasetManifest['keyWraps'] = []
    for (const w of p.manifest.keyWraps.filter((w) => w.kind === 'owner')) {
      const wrapped = await wrapDatasetKey({ recipientPublicKey: w.recipient, datasetId: p.manifest.datasetId, dek: p.newDek })
      keyWraps.push({ ...w, enc: wrapped.enc, ciphertext: wrapped.ciphertext })
    }
    const manifest: DatasetManifest = { ...p.manifest, segments, rows: segments.reduce((n, s) => n + s.rows, 0), keyWraps, createdAt: new Date().toISOString() }
    const block = await carOfBlock(encodeManifest(manifest))
    await p.postCar(block.car, block.cid.toString())
    const kept = new Set(segments.map((s) => s.cid.toString()))
    return { manifest, manifestCid: block.cid.toString(), removed, replaced: p.manifest.segments.map((s) => s.cid).filter((c) => !kept.has(c.toString())) }
  } catch (cause) {
    if (cause instanceof W3aError) throw cause
    // DuckDB's message could quote a value: it stays here.
    throw new W3aError('INTERNAL', 'the site segments could not be rewritten', { cause })
  } finally {
    conn.closeSync()
    instance.closeSync()
    await memory.close()
  }
}
