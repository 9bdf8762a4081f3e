/**
 * Shared by the ingest tests: a site its owner made (key, empty first segment, manifest), a
 * storage node in memory (the blocks the ingest enclave posts, served back over HTTP as the
 * gateway does), and a reader that opens a site's segments with its key and returns their rows.
 */
import { createServer, type Server } from 'node:http'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bytesToHex, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { CID } from 'multiformats/cid'
import { DuckDBInstance } from '@duckdb/node-api'
import { decryptSegment } from '../crypto/envelope.js'
import { generateHpkeKeyPair, HPKE_SUITE_ID, type HpkeKeyPair } from '../crypto/hpke.js'
import { wrapDatasetKey } from '../crypto/owner-wrap-key.js'
import { createMemoryBlockstore, decodeManifest, encodeManifest, exportBytes, exportCar, importCar, readBlock, type DatasetManifest } from '../storage/index.js'
import { carOfBlock } from '../storage/car-of-block.js'
import { siteFor, siteRegistration, type Site } from '../sdk/actions/site.js'
import { SITE_PRIVACY_UNIT, SITE_SCHEMA, sealSiteSegment, siteRowsToParquet } from './ingest-segments.js'
import { SealedHead } from './sealed-head.js'
import { INGEST_STATE_LABEL, type IngestHead } from './ingest-state.js'

/** The ingest role's files under a real sealed head in `dir`, loaded from disk as at an enclave's start. */
export function ingestHeadAt(dir: string, sealingKey: Uint8Array): IngestHead {
  const head = new SealedHead(dir, sealingKey, INGEST_STATE_LABEL)
  head.load()
  return { read: (name) => head.read(name), save: (contents) => void head.save(contents) }
}

/** The ingest log's current file in `dir` (one generation at rest: ingest-log.ts). */
export function ingestLogFile(dir: string): string {
  const names = readdirSync(dir).filter((n) => /^events\.[0-9a-f]{32}\.wal$/.test(n))
  if (names.length !== 1) throw new Error(`expected one ingest log file in ${dir}, found ${names.join(', ') || 'none'}`)
  return join(dir, names[0]!)
}

export const TEST_REGISTRY = '0x00000000000000000000000000000000000000ee' as Address

export type MemoryStorage = {
  postCar(car: Uint8Array): Promise<void>
  manifestOf(cid: string): Promise<DatasetManifest>
  /** Every row of the site's segments, opened with its key (ts as ms), in segment order. */
  rowsOf(manifest: DatasetManifest, dek: Uint8Array): Promise<Record<string, unknown>[]>
  /** A DAG as a CAR (what the gateway's `?format=car` serves). */
  car(cid: CID): AsyncIterable<Uint8Array>
  /** Serves POST /api/v1/blocks and GET /ipfs/CID?format=raw, as the gateway does. */
  serve(): Promise<{ url: string; close: () => Promise<void> }>
  blocks: number
}

export function memoryStorage(): MemoryStorage {
  const store = createMemoryBlockstore()
  const s: MemoryStorage = {
    blocks: 0,
    async postCar(car) {
      s.blocks += (await importCar(store, car)).blocks
    },
    car(cid) {
      return exportCar(store, cid)
    },
    async manifestOf(cid) {
      return decodeManifest(await readBlock(store, CID.parse(cid)))
    },
    async rowsOf(manifest, dek) {
      const dir = mkdtempSync(join(tmpdir(), 'w3a-site-rows-'))
      try {
        const files = await Promise.all(
          manifest.segments.map(async (seg, segmentIndex) => {
            const parts: Uint8Array[] = []
            for await (const part of exportBytes(store, seg.cid)) parts.push(part)
            const parquet = decryptSegment({ key: dek, context: { datasetId: manifest.datasetId, segmentIndex } }, Buffer.concat(parts))
            const f = join(dir, `s${segmentIndex}.parquet`)
            writeFileSync(f, parquet)
            return f
          }),
        )
        const conn = await (await DuckDBInstance.create(':memory:')).connect()
        const r = await conn.runAndReadAll(`SELECT * EXCLUDE (ts), epoch_ms(ts) AS ts FROM read_parquet([${files.map((f) => `'${f}'`).join(', ')}])`)
        return r.getRowObjectsJS().map((o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])))
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
    async serve() {
      const server: Server = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://x')
        void (async () => {
          try {
            if (req.method === 'POST' && url.pathname === '/api/v1/blocks') {
              const chunks: Buffer[] = []
              for await (const c of req) chunks.push(c as Buffer)
              await s.postCar(Buffer.concat(chunks))
              res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
              return
            }
            const m = /^\/ipfs\/([a-z0-9]+)$/.exec(url.pathname)
            if (req.method === 'GET' && m) {
              res.writeHead(200).end(await readBlock(store, CID.parse(m[1]!)))
              return
            }
            res.writeHead(404).end()
          } catch {
            res.writeHead(404).end()
          }
        })()
      })
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, close: () => new Promise<void>((r) => server.close(() => r())) }
    },
  }
  return s
}

export type TestSite = Site & { account: ReturnType<typeof privateKeyToAccount>; dek: Uint8Array; manifestCid: string; wrapKey: HpkeKeyPair; registration: (ingest: { address: Address; hpkePublicKey: Hex }, o?: { issuedAt?: number }) => Promise<Record<string, unknown>> }

/** A site as `w3a site add` makes it (without the chain): its key, an empty first segment and manifest, stored. */
export async function makeTestSite(storage: MemoryStorage, chainId: number, domain = 'shop.example'): Promise<TestSite> {
  const account = privateKeyToAccount(bytesToHex(randomBytes(32)))
  const site = await siteFor(account, domain)
  const dek = new Uint8Array(randomBytes(32))
  const segment = await sealSiteSegment({ dek, site: site.id, segmentIndex: 0, parquet: await siteRowsToParquet([]) })
  await storage.postCar(segment.car)
  const wrapKey = await generateHpkeKeyPair()
  const wrapped = await wrapDatasetKey({ recipientPublicKey: wrapKey.publicKey, datasetId: site.id, dek })
  const manifest: DatasetManifest = {
    version: 1,
    datasetId: site.id,
    name: `site:${domain}`,
    format: 'parquet',
    schema: SITE_SCHEMA,
    privacyUnit: SITE_PRIVACY_UNIT,
    rows: 0,
    segments: [{ cid: segment.cid, rows: 0, size: segment.size }],
    envelope: { version: 1, cipher: 'AES-256-GCM', chunkSize: 1024 * 1024, kdf: 'HKDF-SHA256' },
    keyWraps: [{ kind: 'owner', suite: HPKE_SUITE_ID, recipient: wrapKey.publicKey, enc: wrapped.enc, ciphertext: wrapped.ciphertext }],
    createdAt: new Date().toISOString(),
  }
  const block = await carOfBlock(encodeManifest(manifest))
  await storage.postCar(block.car)
  const manifestCid = block.cid.toString()
  return {
    ...site,
    account,
    dek,
    manifestCid,
    wrapKey,
    registration: (ingest, o) => siteRegistration({ account, chainId, site, ingest, registry: TEST_REGISTRY, manifestCid, dek, ...(o?.issuedAt ? { issuedAt: o.issuedAt } : {}) }),
  }
}
