import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { test } from 'node:test'
import * as dagJson from '@ipld/dag-json'
import { varint } from 'multiformats'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { isW3aError } from '../core/errors.js'
import { createMemoryBlockstore } from './blockstore.js'
import { carHeader, exportCar } from './car.js'
import { readCarFile, type ReadCarFileOptions } from './car-file.js'
import { walkDag, type Block } from './dag-walk.js'
import { importBytes } from './unixfs.js'

const all = async (source: AsyncIterable<Uint8Array>): Promise<Uint8Array> => new Uint8Array(await buffer(source))

/** The bytes as a network delivers them: pieces of `size`. */
const inPieces = (bytes: Uint8Array, size: number): AsyncIterable<Uint8Array> =>
  Readable.from(Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size)), { objectMode: true })

/** A CARv1 with `roots` and exactly these blocks, in this order (for CARs a gateway would not send). */
function carOf(roots: CID[], blocks: Block[]): Uint8Array {
  const parts: Uint8Array[] = [carHeader(roots)]
  for (const { cid, bytes } of blocks) {
    const length = cid.bytes.length + bytes.length
    const prefix = new Uint8Array(varint.encodingLength(length))
    varint.encodeTo(length, prefix, 0)
    parts.push(prefix, cid.bytes, bytes)
  }
  return Buffer.concat(parts)
}

/** A UnixFS file over 3 leaves and a bit: a root dag-pb node and 4 raw leaves. */
async function fixture(data: Uint8Array = new Uint8Array(randomBytes(3 * 256 * 1024 + 5))) {
  const store = createMemoryBlockstore()
  const { cid: root } = await importBytes(store, data)
  const blocks: Block[] = []
  for await (const b of walkDag(store, root)) blocks.push(b)
  return { data, root, blocks, car: await all(exportCar(store, root)) }
}

const read = (car: Uint8Array, o: ReadCarFileOptions, piece = 10_000) => all(readCarFile(inPieces(car, piece), o))

test('readCarFile streams the file of a gateway CAR (order=dfs), in any slicing', async () => {
  const { data, root, blocks, car } = await fixture()
  assert.equal(blocks.length, 5)
  for (const piece of [1, 7, 10_000, car.length]) assert.deepEqual(await read(car, { root, size: data.length }, piece), data, `pieces of ${piece}`)
})

test('readCarFile yields each leaf as it arrives, before the CAR has ended', async () => {
  // 16 leaves: the reader hashes a few blocks ahead (car-file.ts HASHED_AHEAD), so a streaming
  // reader shows only on a file longer than that window.
  const { data, root, car } = await fixture(new Uint8Array(randomBytes(16 * 256 * 1024 + 5)))
  let sent = 0
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const p of inPieces(car, 4096)) {
      sent += p.length
      yield p
    }
  }
  const it = readCarFile(counted(), { root })
  const first = await it.next()
  assert.equal(first.done, false)
  assert.ok(sent < car.length / 2, `first bytes out after ${sent} of ${car.length} CAR bytes`)
  assert.deepEqual(first.value, data.subarray(0, first.value!.length))
  await it.return(undefined)
})

test('blocks out of order are held until their turn; a block the file uses twice comes once (dups=n)', async () => {
  const { data, root, blocks } = await fixture()
  const reversed = carOf([root], [...blocks].reverse())
  assert.deepEqual(await read(reversed, { root }), data)
  // 1 MiB of zeros: four links to one and the same leaf, which the CAR holds once.
  const zeros = await fixture(new Uint8Array(1024 * 1024))
  assert.equal(zeros.blocks.length, 2)
  assert.deepEqual(await read(zeros.car, { root: zeros.root, size: zeros.data.length }), zeros.data)
})

test('a tampered block → BLOCK_HASH_MISMATCH naming it, and none of its bytes come out', async () => {
  const { root, blocks } = await fixture()
  const bad = blocks[2]!
  const tampered = { cid: bad.cid, bytes: Uint8Array.from(bad.bytes) }
  tampered.bytes[100]! ^= 1
  const car = carOf([root], [blocks[0]!, blocks[1]!, tampered, blocks[3]!, blocks[4]!])
  const out: Uint8Array[] = []
  await assert.rejects(
    (async () => {
      for await (const p of readCarFile(inPieces(car, 5000), { root })) out.push(p)
    })(),
    (e) => isW3aError(e, 'BLOCK_HASH_MISMATCH') && e.shortMessage.includes(bad.cid.toString()),
  )
  assert.deepEqual(Buffer.concat(out), Buffer.from(blocks[1]!.bytes), 'only the leaf before the tampered one')
})

test('a missing block, wrong roots, a cut CAR and garbage fail as CAR_MALFORMED', async () => {
  const { root, blocks, car } = await fixture()
  const other = await fixture()
  const cases: [string, Uint8Array][] = [
    ['a leaf missing', carOf([root], blocks.filter((_, i) => i !== 3))],
    ['another root', other.car],
    ['two roots', carOf([root, other.root], blocks)],
    ['cut inside a block', car.subarray(0, car.length - 1000)],
    ['empty', new Uint8Array(0)],
    ['not a CAR', new TextEncoder().encode('<html>502 Bad Gateway</html>')],
  ]
  for (const [what, bytes] of cases) {
    await assert.rejects(read(bytes, { root }), (e) => isW3aError(e, 'CAR_MALFORMED'), what)
  }
  await assert.rejects(read(carOf([root], blocks.slice(0, 1)), { root }), (e) => isW3aError(e, 'CAR_MALFORMED') && /incomplete: block \S+ is missing/.test(e.shortMessage))
  // A block under a hash this reader cannot check, and a root that is no UnixFS file: data faults too (never an argument error).
  const blake = CID.createV1(raw.code, Digest.create(0xb220, new Uint8Array(32)))
  await assert.rejects(read(carOf([root], [...blocks, { cid: blake, bytes: new Uint8Array(8) }]), { root }), (e) => isW3aError(e, 'CAR_MALFORMED') && /hash function/.test(e.shortMessage))
  const json = new TextEncoder().encode('{"a":1}')
  const jsonCid = CID.createV1(dagJson.code, await sha256.digest(json))
  await assert.rejects(read(carOf([jsonCid], [{ cid: jsonCid, bytes: json }]), { root: jsonCid }), (e) => isW3aError(e, 'CAR_MALFORMED') && /not part of a readable UnixFS file/.test(e.shortMessage))
})

test('a size that does not match the DAG → MANIFEST_MALFORMED; more than maxBytes → CAR_MALFORMED', async () => {
  const { data, root, car } = await fixture()
  await assert.rejects(read(car, { root, size: data.length - 1 }), (e) => isW3aError(e, 'MANIFEST_MALFORMED'))
  await assert.rejects(read(car, { root, size: data.length + 1 }), (e) => isW3aError(e, 'MANIFEST_MALFORMED'))
  await assert.rejects(read(car, { root, maxBytes: car.length - 1 }), (e) => isW3aError(e, 'CAR_MALFORMED') && /larger than/.test(e.shortMessage))
  assert.deepEqual(await read(car, { root, maxBytes: car.length }), data)
})

test('a small file is its own raw leaf', async () => {
  const { data, root, blocks, car } = await fixture(new Uint8Array(randomBytes(1000)))
  assert.equal(blocks.length, 1)
  assert.deepEqual(await read(car, { root, size: 1000 }), data)
})
