/**
 * Which account uploaded each root a storage node holds (the signer of the upload, which the
 * gateway verified), so an uploader can take back what it uploaded itself and nobody else's: a
 * pool contributor's deleted contribution is in no registry, so this record is the only thing
 * that says whose blocks they are.
 *
 * Invariants:
 * - A root may have several uploaders (the same CAR uploaded twice: content addressing makes it
 *   one set of blocks); it stays claimed while any of them holds it.
 * - Kept in the node's data dir, one file per account (`uploads/<address>.json`, the roots it
 *   holds), each written atomically: an upload rewrites its uploader's file only.
 * - Bounded: at most MAX_ROOTS_PER_ACCOUNT roots per account (each file at most ~1.3 MB); past
 *   it the account's oldest record goes. Only that account loses by it: it can no longer unpin
 *   that root itself, and the root keeps only the protection every block has (a live manifest
 *   linking it). Refusing instead would stop an ingest worker, which uploads a segment and a
 *   manifest per flush (every 10 s) and whose old versions its sites' owners unpin anyway.
 * - An unpin signature is accepted once (until it expires), so a captured one cannot unpin the
 *   same roots again after they were uploaded anew.
 * Untrusted like the host that keeps it: it protects honest uploaders from each other, not
 * from the node's operator.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Address, Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import { writeFileAtomic } from '../core/atomic-write.js'

export const MAX_ROOTS_PER_ACCOUNT = 20_000

export type RootUploaders = {
  /** Records that `account` uploaded `root` (once stored whole); past the bound, its oldest record goes. */
  record(account: Address, root: string): void
  /** The accounts (lowercase) that hold `root`. */
  uploadersOf(root: string): string[]
  /** Every root some account holds. */
  roots(): string[]
  /** `account` no longer holds `root` (it unpinned it). */
  release(account: Address, root: string): void
  /** Nobody holds `root` any more (its blocks are gone). */
  forget(root: string): void
  /** Marks an unpin signature used; throws UPLOAD_UNAUTHORIZED when it already was. */
  useSignature(digest: Hex, expires: number): void
}

const ADDRESS_FILE = /^(0x[0-9a-f]{40})\.json$/

export function createRootUploaders(params: { dir?: string; maxRootsPerAccount?: number; now?: () => number } = {}): RootUploaders {
  const max = params.maxRootsPerAccount ?? MAX_ROOTS_PER_ACCOUNT
  const now = params.now ?? (() => Math.floor(Date.now() / 1000))
  const byAccount = new Map<string, Set<string>>()
  const byRoot = new Map<string, Set<string>>()
  const used = new Map<Hex, number>() // unpin digest → expiry
  if (params.dir) {
    mkdirSync(params.dir, { recursive: true, mode: 0o700 })
    for (const name of readdirSync(params.dir)) {
      const account = ADDRESS_FILE.exec(name)?.[1]
      if (!account) continue
      for (const root of load(join(params.dir, name))) add(account, root)
    }
  }
  function add(account: string, root: string): void {
    let roots = byAccount.get(account)
    if (!roots) byAccount.set(account, (roots = new Set()))
    roots.add(root)
    let who = byRoot.get(root)
    if (!who) byRoot.set(root, (who = new Set()))
    who.add(account)
  }
  function remove(account: string, root: string): boolean {
    const roots = byAccount.get(account)
    if (!roots?.delete(root)) return false
    if (roots.size === 0) byAccount.delete(account)
    const who = byRoot.get(root)
    who?.delete(account)
    if (who?.size === 0) byRoot.delete(root)
    return true
  }
  function save(account: string): void {
    if (params.dir) writeFileAtomic(join(params.dir, `${account}.json`), JSON.stringify([...(byAccount.get(account) ?? [])]))
  }
  return {
    record(account, root) {
      const key = account.toLowerCase()
      if (byAccount.get(key)?.has(root)) return
      add(key, root)
      const roots = byAccount.get(key)!
      // A Set iterates in insertion order (kept across restarts by the file's order): the first is the oldest.
      while (roots.size > max) remove(key, roots.values().next().value!)
      save(key)
    },
    uploadersOf: (root) => [...(byRoot.get(root) ?? [])],
    roots: () => [...byRoot.keys()],
    release(account, root) {
      const key = account.toLowerCase()
      if (remove(key, root)) save(key)
    },
    forget(root) {
      for (const account of [...(byRoot.get(root) ?? [])]) if (remove(account, root)) save(account)
    },
    useSignature(digest, expires) {
      const t = now()
      for (const [d, exp] of used) if (exp <= t) used.delete(d)
      if (used.has(digest)) throw new W3aError('UPLOAD_UNAUTHORIZED', 'this unpin signature was already used', { details: ['Each unpin is signed afresh; the SDK and `w3a` do it for you.'] })
      used.set(digest, expires)
    },
  }
}

/** One account's file: a JSON array of root CIDs. A file that does not parse stops the node: silently dropping it would leave that account's blocks unprotected. */
function load(file: string): string[] {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (cause) {
    throw new W3aError('INPUT_MALFORMED', `the upload record ${file} does not parse`, { details: ['It is written atomically, so this is damage from outside: restore it from a backup, or remove it (its account then can no longer unpin those roots, and they lose their protection from other uploaders).'], cause })
  }
  if (!Array.isArray(raw) || !raw.every((r) => typeof r === 'string')) throw new W3aError('INPUT_MALFORMED', `the upload record ${file} is not a list of root CIDs`)
  return raw as string[]
}
