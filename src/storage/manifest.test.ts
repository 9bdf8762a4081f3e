import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import * as dagJson from '@ipld/dag-json'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { isW3aError } from '../core/errors.js'
import { createMemoryBlockstore } from './blockstore.js'
import { exportCar } from './car.js'
import { CarBlockIterator } from '@ipld/car/iterator'
import { declaredDagSize } from './declared-size.js'
import { testManifest } from './manifest-fixture.test.js'
import { decodeManifest, encodeManifest, getManifest, putManifest, schemaHash, type DatasetManifest } from './manifest.js'
import { collectDagCids, importBytes } from './unixfs.js'

const store = createMemoryBlockstore()
const seg0 = await importBytes(store, new Uint8Array(randomBytes(300 * 1024)))
const seg1 = await importBytes(store, new Uint8Array(randomBytes(1000)))

function manifest(): DatasetManifest {
  return testManifest([
    { cid: seg0.cid, rows: 100, size: seg0.size },
    { cid: seg1.cid, rows: 50, size: seg1.size },
  ])
}

/** Encodes a hand-edited manifest-like value, bypassing encodeManifest's validation. */
function raw_(edit: (m: Record<string, unknown>) => void): Uint8Array {
  const m = manifest() as unknown as Record<string, unknown>
  edit(m)
  return dagJson.encode(m)
}

function malformed(field: string) {
  return (e: unknown) => isW3aError(e, 'MANIFEST_MALFORMED') && e.message.includes(field)
}

test('encode/decode round trip; the encoding is canonical DAG-JSON', () => {
  const m = manifest()
  const bytes = encodeManifest(m)
  const back = decodeManifest(bytes)
  assert.equal(back.segments[0]!.cid.toString(), seg0.cid.toString())
  assert.deepEqual(back.keyWraps[0]!.ciphertext, m.keyWraps[0]!.ciphertext)
  assert.deepEqual(encodeManifest(back), bytes)
  // Key order of the input does not matter.
  const shuffled = Object.fromEntries(Object.entries(m).reverse()) as DatasetManifest
  assert.deepEqual(encodeManifest(shuffled), bytes)
  const text = new TextDecoder().decode(bytes)
  assert.match(text, new RegExp(`\\{"/":"${seg0.cid}"\\}`), 'segments are IPLD links')
})

test('putManifest / getManifest store it as a dag-json block', async () => {
  const cid = await putManifest(store, manifest())
  assert.equal(cid.code, 0x0129)
  assert.equal(cid.version, 1)
  const back = await getManifest(store, cid)
  assert.equal(back.name, 'steps per day')
  assert.equal(back.rows, 150)
})

test('a manifest links its segments: its CAR carries the whole dataset', async () => {
  const cid = await putManifest(store, manifest())
  const reader = await CarBlockIterator.fromBytes(await collectAll(exportCar(store, cid)))
  const cids: string[] = []
  for await (const b of reader) cids.push(b.cid.toString())
  const expected = [cid, ...(await collectDagCids(store, seg0.cid)), ...(await collectDagCids(store, seg1.cid))].map(String)
  assert.deepEqual(cids, expected)
})

test('bytes that are not DAG-JSON are MANIFEST_MALFORMED', () => {
  assert.throws(() => decodeManifest(new TextEncoder().encode('{"version": 1,')), (e) => isW3aError(e, 'MANIFEST_MALFORMED'))
  assert.throws(() => decodeManifest(new Uint8Array([0xff, 0x00])), (e) => isW3aError(e, 'MANIFEST_MALFORMED'))
  assert.throws(() => decodeManifest(new TextEncoder().encode('[]')), (e) => isW3aError(e, 'MANIFEST_MALFORMED'))
})

test('schema violations name the bad field', () => {
  assert.throws(() => decodeManifest(raw_((m) => delete m.name)), malformed('name'))
  assert.throws(() => decodeManifest(raw_((m) => (m.version = 2))), malformed('version'))
  assert.throws(() => decodeManifest(raw_((m) => (m.rows = -1))), malformed('rows'))
  assert.throws(() => decodeManifest(raw_((m) => (m.datasetId = '0x1234'))), malformed('datasetId'))
  assert.throws(() => decodeManifest(raw_((m) => ((m.segments as { cid: unknown }[])[1]!.cid = 'bafy-not-a-link'))), malformed('segments[1].cid'))
  assert.throws(() => decodeManifest(raw_((m) => ((m.keyWraps as { enc: unknown }[])[0]!.enc = 'AAAA'))), malformed('keyWraps[0].enc'))
  assert.throws(() => decodeManifest(raw_((m) => (m.createdAt = 'yesterday'))), malformed('createdAt'))
  assert.throws(() => decodeManifest(raw_((m) => (m.envelope = { version: 1, cipher: 'ROT13', chunkSize: 1, kdf: 'HKDF-SHA256' }))), malformed('envelope.cipher'))
})

test('extra fields, an unknown privacy unit, or rows that do not add up are refused', () => {
  assert.throws(() => decodeManifest(raw_((m) => (m.plaintextPreview = 'alice,12000'))), malformed('plaintextPreview'))
  assert.throws(() => decodeManifest(raw_((m) => (m.privacyUnit = 'email'))), malformed('privacyUnit'))
  assert.throws(() => decodeManifest(raw_((m) => (m.rows = 151))), malformed('rows'))
  assert.throws(
    () => decodeManifest(raw_((m) => ((m.schema as { columns: unknown[] }).columns = [{ name: 'a', type: 'INT' }, { name: 'a', type: 'INT' }]))),
    malformed('schema.columns[1].name'),
  )
  assert.doesNotThrow(() => decodeManifest(raw_((m) => (m.privacyUnit = null))))
})

test('encodeManifest refuses an invalid manifest; getManifest refuses non-dag-json CIDs', async () => {
  assert.throws(() => encodeManifest({ ...manifest(), rows: 1.5 }), malformed('rows'))
  const rawCid = CID.createV1(raw.code, await sha256.digest(new Uint8Array(1)))
  await assert.rejects(getManifest(store, rawCid), (e) => isW3aError(e, 'MANIFEST_MALFORMED'))
})

test('schemaHash is a stable bytes32 that changes with names, types and order', () => {
  const schema = manifest().schema
  const h = schemaHash(schema)
  assert.match(h, /^0x[0-9a-f]{64}$/)
  assert.equal(schemaHash(structuredClone(schema)), h)
  assert.notEqual(schemaHash({ columns: [...schema.columns].reverse() }), h)
  assert.notEqual(schemaHash({ columns: [{ name: 'user_id', type: 'VARCHAR' }, { name: 'steps', type: 'INTEGER' }] }), h)
})

async function collectAll(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of source) parts.push(p)
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

test('a manifest declares its dataset\'s size: its own bytes plus its segments\' (what a storage enclave counts as held)', async () => {
  const bytes = encodeManifest(manifest())
  const cid = CID.createV1(dagJson.code, await sha256.digest(bytes))
  assert.equal(declaredDagSize(cid, bytes), BigInt(bytes.length + seg0.size + seg1.size))
})
