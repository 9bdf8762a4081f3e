/**
 * A pool's public descriptor: what its curator publishes and registers as the pool's manifest
 * CID on chain (DatasetRegistry.registerPool): the pool's id, name, purpose and the schema every
 * contribution's rows must have. One DAG-JSON block, validated on decode like a manifest
 * (it arrives from untrusted storage). The rows live in the contributions, each a dataset
 * manifest of its own (manifest.ts) under its contributor's key; the descriptor lists none of
 * them: which contributions a job reads is custody's to say (src/custody/pool.ts).
 *
 * The privacy unit of a pool is the contributor: the worker adds the column `contributor` (the
 * contribution's owner as custody holds it), so a schema may not have a column of that name.
 */
import * as dagJson from '@ipld/dag-json'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import type { Hex32, TableSchema } from './manifest.js'
import { COLUMN_TYPES, parseColumnTypes } from './column-types.js'

export const POOL_UNIT_COLUMN = 'contributor'
/** DuckDB types a pool column may have (what a contribution's CSV is read as). */
export const POOL_COLUMN_TYPES = COLUMN_TYPES

export type PoolDescriptor = {
  version: 1
  kind: 'w3a.pool'
  poolId: Hex32
  name: string
  purpose: string
  schema: TableSchema
  createdAt: string
}

const schema = z
  .strictObject({
    version: z.literal(1),
    kind: z.literal('w3a.pool'),
    poolId: z
      .string()
      .regex(/^0x[0-9a-f]{64}$/, { message: 'expected 0x + 64 lowercase hex digits' })
      .transform((s) => s as Hex32),
    name: z.string().min(1).max(128),
    purpose: z.string().trim().min(1).max(128),
    schema: z.strictObject({
      columns: z
        .array(z.strictObject({ name: z.string().min(1).max(64).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'letters, digits and _ only' }), type: z.enum(POOL_COLUMN_TYPES) }))
        .min(1)
        .max(256),
    }),
    createdAt: z.iso.datetime(),
  })
  .superRefine((d, ctx) => {
    const names = d.schema.columns.map((c) => c.name.toLowerCase())
    names.forEach((n, i) => {
      if (names.indexOf(n) !== i) ctx.addIssue({ code: 'custom', path: ['schema', 'columns', i, 'name'], message: 'duplicate column name' })
      if (n === POOL_UNIT_COLUMN) ctx.addIssue({ code: 'custom', path: ['schema', 'columns', i, 'name'], message: `"${POOL_UNIT_COLUMN}" is the pool's privacy unit, added by the worker` })
    })
  })

export function parsePoolDescriptor(value: unknown): PoolDescriptor {
  const r = schema.safeParse(value)
  if (r.success) return r.data as PoolDescriptor
  const i = r.error.issues[0]!
  throw new W3aError('MANIFEST_MALFORMED', `Pool descriptor field ${i.path.join('.') || '(root)'}: ${i.message}`, { details: r.error.issues.slice(1, 5).map((x) => `${x.path.join('.')}: ${x.message}`) })
}

export function encodePoolDescriptor(d: PoolDescriptor): Uint8Array {
  return dagJson.encode(parsePoolDescriptor(d))
}

export function decodePoolDescriptor(bytes: Uint8Array): PoolDescriptor {
  if (bytes.length > 64 * 1024) throw new W3aError('MANIFEST_MALFORMED', 'Pool descriptor is over 64 KiB')
  let value: unknown
  try {
    value = dagJson.decode(bytes)
  } catch (cause) {
    throw new W3aError('MANIFEST_MALFORMED', 'Pool descriptor is not valid DAG-JSON', { cause })
  }
  return parsePoolDescriptor(value)
}

/** A pool schema from "name:TYPE,name:TYPE" (column-types.ts), in the order given. */
export function parsePoolSchema(text: string): TableSchema {
  return { columns: Object.entries(parseColumnTypes(text)).map(([name, type]) => ({ name, type })) }
}
