/**
 * Measurements (bytes32) as the network's allow-list holds them.
 *
 * sim: sha256 over a canonical listing of the worker code bundle, so the same files give
 * the same hash on every machine, whatever the file system's order:
 *   "w3a/bundle/v1\n" ‖ for each file, sorted by its relative path ('/'-separated, UTF-8 bytes):
 *     u32 BE path length ‖ path ‖ u64 BE file length ‖ file bytes
 * tdx: sha256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2) (48 bytes each), per the custody protocol.
 */
import { createHash } from 'node:crypto'
import { lstat, readdir, readFile } from 'node:fs/promises'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import { bytesToHex, type Hex } from 'viem'
import { W3aError } from '../core/errors.js'
export { tdxMeasurement } from './tdx-measurement.js'

const BUNDLE_DOMAIN = new TextEncoder().encode('w3a/bundle/v1\n')

/** Decides what a directory measurement covers; `relPath` is '/'-separated. */
export type MeasureFilter = (relPath: string, isDirectory: boolean) => boolean

/** Measures every regular file under `dir` (recursively) that `filter` keeps. Symlinks are refused: what they point at is not part of the bundle. */
export async function measureDirectory(dir: string, filter?: MeasureFilter): Promise<Hex> {
  const root = resolve(dir)
  const st = await lstat(root).catch((cause: unknown) => {
    throw new W3aError('INPUT_UNREADABLE', `cannot measure ${dir}: not readable`, { cause })
  })
  if (!st.isDirectory()) throw new W3aError('INVALID_ARGUMENT', `cannot measure ${dir}: not a directory`)
  const files: string[] = []
  await walk(root, '', filter, files)
  return hashListing(root, files)
}

/**
 * Measures a bundle given as a directory, or as a list of files named relative to `root`
 * (default: the current directory). Files outside `root` are refused.
 */
export async function measureBundle(filesOrDir: string | readonly string[], options: { root?: string } = {}): Promise<Hex> {
  if (typeof filesOrDir === 'string') return measureDirectory(filesOrDir)
  const root = resolve(options.root ?? '.')
  const rels = new Set<string>()
  for (const f of filesOrDir) {
    const rel = relative(root, resolve(root, f))
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new W3aError('INVALID_ARGUMENT', `${f} is not inside the bundle root ${root}`)
    const st = await lstat(join(root, rel)).catch((cause: unknown) => {
      throw new W3aError('INPUT_UNREADABLE', `cannot measure ${f}: not readable`, { cause })
    })
    if (!st.isFile()) throw new W3aError('INVALID_ARGUMENT', `cannot measure ${f}: not a regular file`)
    rels.add(rel.split(sep).join('/'))
  }
  return hashListing(root, [...rels])
}

async function walk(abs: string, rel: string, filter: MeasureFilter | undefined, out: string[]): Promise<void> {
  for (const ent of await readdir(abs, { withFileTypes: true })) {
    const childRel = rel ? `${rel}/${ent.name}` : ent.name
    const childAbs = join(abs, ent.name)
    if (ent.isSymbolicLink()) throw new W3aError('INVALID_ARGUMENT', `cannot measure ${childAbs}: symbolic links are not allowed in a measured bundle`)
    if (ent.isDirectory()) {
      if (!filter || filter(childRel, true)) await walk(childAbs, childRel, filter, out)
    } else if (ent.isFile()) {
      if (!filter || filter(childRel, false)) out.push(childRel)
    } else throw new W3aError('INVALID_ARGUMENT', `cannot measure ${childAbs}: not a regular file or directory`)
  }
}

async function hashListing(root: string, rels: string[]): Promise<Hex> {
  const enc = new TextEncoder()
  // Sort by UTF-8 bytes, not by locale or UTF-16 order, so every platform agrees.
  const sorted = rels.map((r) => ({ r, b: enc.encode(r) })).sort((a, b) => Buffer.compare(a.b, b.b))
  const h = createHash('sha256').update(BUNDLE_DOMAIN)
  for (const { r, b } of sorted) {
    const bytes = await readFile(join(root, ...r.split('/')))
    const head = Buffer.alloc(4 + b.length + 8)
    head.writeUInt32BE(b.length, 0)
    head.set(b, 4)
    head.writeBigUInt64BE(BigInt(bytes.length), 4 + b.length)
    h.update(head).update(bytes)
  }
  return bytesToHex(h.digest())
}
