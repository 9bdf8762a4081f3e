/**
 * The dataset manifest: the one public document that ties a dataset together (schema,
 * ciphertext segments, envelope parameters, wrapped keys). Stored as a DAG-JSON block
 * (codec 0x0129), so it is content-addressed, its segment CIDs are real IPLD links
 * (pinning or CAR-exporting the manifest takes the whole dataset), and Kubo can show it.
 *
 * It never holds a data value: only column names/types, counts, sizes, CIDs and keys
 * wrapped to their recipients. Decoding validates everything (unknown fields included)
 * because manifests arrive from untrusted storage and chain references.
 */
import * as dagJson from '@ipld/dag-json'
import type { Blockstore } from 'interface-blockstore'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { keccak256 } from 'viem'
import { z } from 'zod'
import { W3aError, isW3aError } from '../core/errors.js'
import { readBlock } from './block-read.js'
import { SHA2_256 } from './verify-block.js'

export type Hex32 = `0x${string}`

export type ColumnSchema = { name: string; type: string }
export type TableSchema = { columns: ColumnSchema[] }

export type DatasetManifest = {
  version: 1
  datasetId: Hex32
  name: string
  format: 'parquet'
  schema: TableSchema
  privacyUnit: string | null
  rows: number
  segments: { cid: CID; rows: number; size: number }[]
  envelope: { version: number; cipher: 'AES-256-GCM'; chunkSize: number; kdf: 'HKDF-SHA256' }
  keyWraps: { kind: 'owner' | 'custody'; suite: string; recipient: Uint8Array; enc: Uint8Array; ciphertext: Uint8Array }[]
  createdAt: string
}

/** A manifest is one block; far below the 2 MiB block limit even with thousands of segments. */
export const MAX_MANIFEST_BYTES = 1024 * 1024

const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)
const bytes = (max: number) =>
  z.instanceof(Uint8Array, { message: 'expected bytes' }).refine((b) => b.length > 0 && b.length <= max, { message: `expected 1..${max} bytes` })
const segmentCid = z
  .custom<CID>((v) => CID.asCID(v) !== null, { message: 'expected a CID' })
  .transform((v) => CID.asCID(v)!)
  .refine((c) => c.version === 1 && c.multihash.code === SHA2_256, { message: 'expected a CIDv1 with a sha2-256 multihash' })

const manifestSchema = z
  .strictObject({
    version: z.literal(1),
    datasetId: z
      .string()
      .regex(/^0x[0-9a-f]{64}$/, { message: 'expected 0x + 64 lowercase hex digits (bytes32)' })
      .transform((s) => s as Hex32),
    name: z.string().min(1).max(256),
    format: z.literal('parquet'),
    schema: z.strictObject({
      columns: z
        .array(z.strictObject({ name: z.string().min(1).max(256), type: z.string().min(1).max(1024) }))
        .min(1)
        .max(4096),
    }),
    privacyUnit: z.string().min(1).nullable(),
    rows: count,
    segments: z.array(z.strictObject({ cid: segmentCid, rows: count, size: count })).min(1).max(100_000),
    envelope: z.strictObject({
      version: z.number().int().positive(),
      cipher: z.literal('AES-256-GCM'),
      chunkSize: z.number().int().positive(),
      kdf: z.literal('HKDF-SHA256'),
    }),
    keyWraps: z
      .array(
        z.strictObject({
          kind: z.enum(['owner', 'custody']),
          suite: z.string().min(1).max(128),
          recipient: bytes(1024),
          enc: bytes(1024),
          ciphertext: bytes(4096),
        }),
      )
      .min(1)
      .max(256),
    createdAt: z.iso.datetime(),
  })
  .superRefine((m, ctx) => {
    const names = m.schema.columns.map((c) => c.name)
    names.forEach((n, i) => {
      if (names.indexOf(n) !== i) ctx.addIssue({ code: 'custom', path: ['schema', 'columns', i, 'name'], message: `duplicate column name` })
    })
    if (m.privacyUnit !== null && !names.includes(m.privacyUnit)) {
      ctx.addIssue({ code: 'custom', path: ['privacyUnit'], message: 'not one of the schema columns' })
    }
    const sum = m.segments.reduce((s, seg) => s + seg.rows, 0)
    if (sum !== m.rows) ctx.addIssue({ code: 'custom', path: ['rows'], message: `is ${m.rows} but the segments hold ${sum} rows` })
  })

/** Validates a manifest; the first problem → MANIFEST_MALFORMED naming the field. */
function validate(value: unknown): DatasetManifest {
  const result = manifestSchema.safeParse(value)
  if (result.success) return result.data
  const issues = result.error.issues
  const describe = (i: (typeof issues)[number]) => {
    const keys = i.code === 'unrecognized_keys' ? ` (${i.keys.join(', ')})` : ''
    return `${fieldPath(i.path)}: ${i.message}${keys}`
  }
  const first = issues[0]!
  throw new W3aError('MANIFEST_MALFORMED', `Dataset manifest field ${describe(first)}`, {
    details: issues.slice(1, 6).map(describe),
  })
}

function fieldPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)'
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('')
}

/** The manifest as canonical DAG-JSON bytes (sorted keys, so one manifest → one CID). */
export function encodeManifest(m: DatasetManifest): Uint8Array {
  return dagJson.encode(validate(m))
}

/** Parses and validates manifest bytes; anything off → MANIFEST_MALFORMED. */
export function decodeManifest(bytes: Uint8Array): DatasetManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new W3aError('MANIFEST_MALFORMED', `Dataset manifest is ${bytes.length} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`)
  }
  let value: unknown
  try {
    value = dagJson.decode(bytes)
  } catch (cause) {
    throw new W3aError('MANIFEST_MALFORMED', 'Dataset manifest is not valid DAG-JSON', {
      details: [String((cause as Error)?.message ?? cause).slice(0, 200)],
      cause,
    })
  }
  return validate(value)
}

/** Stores the manifest as a DAG-JSON block and returns its CID (v1, dag-json, sha2-256). */
export async function putManifest(blockstore: Blockstore, m: DatasetManifest): Promise<CID> {
  const block = encodeManifest(m)
  const cid = CID.createV1(dagJson.code, await sha256.digest(block))
  await blockstore.put(cid, block)
  return cid
}

/** Reads and validates the manifest at `cid`. */
export async function getManifest(blockstore: Blockstore, cid: CID): Promise<DatasetManifest> {
  if (cid.code !== dagJson.code) {
    throw new W3aError('MANIFEST_MALFORMED', `${cid} is not a DAG-JSON block (codec 0x${cid.code.toString(16)})`)
  }
  try {
    return decodeManifest(await readBlock(blockstore, cid))
  } catch (e) {
    if (isW3aError(e)) throw e
    throw new W3aError('MANIFEST_MALFORMED', `Cannot read manifest ${cid}`, { cause: e })
  }
}

/**
 * keccak256 of the schema's canonical DAG-JSON encoding (column order matters: it is
 * the table's order). Goes on chain so anyone can check a manifest's schema.
 */
export function schemaHash(schema: TableSchema): Hex32 {
  return keccak256(dagJson.encode({ columns: schema.columns.map((c) => ({ name: c.name, type: c.type })) }))
}
