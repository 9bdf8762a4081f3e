/**
 * An immutable map from lowercase 0x-hex keys to values, with a cheap, cached digest.
 *
 * Why: custody signs a state root in every receipt, so the root must be recomputed after every
 * inbox entry. Hashing the whole state each time is O(state) per entry; here the keys sit in a
 * fixed two-level radix tree (16 groups × 16 buckets, by the key's first byte) and every update
 * copies only the path it touches (copy-on-write), so unchanged buckets keep their cached hash.
 * The shape is fixed by the keys alone, so the digest is a function of the contents:
 *
 *   leaf   = leafHash(key, value)                         (the caller's canonical encoding)
 *   bucket = keccak256(leaf ‖ leaf ‖ …)  leaves sorted by key; an empty bucket hashes ""
 *   group  = keccak256(bucket_0 ‖ … ‖ bucket_15)          buckets 16g … 16g+15 (first byte)
 *   digest = keccak256(group_0 ‖ … ‖ group_15)
 *
 * Values must be treated as immutable: replace them with `set`, never edit them in place
 * (the leaf cache is keyed by value identity).
 */
import { keccak_256 } from '@noble/hashes/sha3.js'
import { W3aError } from '../core/errors.js'

type Bucket<V> = ReadonlyMap<string, V>
type Group<V> = ReadonlyArray<Bucket<V> | undefined>
type Top<V> = ReadonlyArray<Group<V> | undefined>

const KEY_RE = /^0x[0-9a-f]{2,}$/
const EMPTY_HASH = keccak_256(new Uint8Array(0))
const EMPTY_GROUP_HASH = keccak_256(concat(Array.from({ length: 16 }, () => EMPTY_HASH)))

/** Caches for one kind of leaf hash; share one per `leafHash` function. */
export type DigestCache = {
  leaves: WeakMap<object, { key: string; hash: Uint8Array }>
  buckets: WeakMap<object, Uint8Array>
  groups: WeakMap<object, Uint8Array>
  tops: WeakMap<object, Uint8Array>
}

export function createDigestCache(): DigestCache {
  return { leaves: new WeakMap(), buckets: new WeakMap(), groups: new WeakMap(), tops: new WeakMap() }
}

export class PersistentMap<V> {
  readonly #top: Top<V>
  readonly size: number

  private constructor(top: Top<V>, size: number) {
    this.#top = top
    this.size = size
  }

  static empty<V>(): PersistentMap<V> {
    return new PersistentMap<V>(new Array(16).fill(undefined), 0)
  }

  get(key: string): V | undefined {
    if (typeof key !== 'string' || key.length < 4) return undefined
    const [g, b] = slot(key)
    return this.#top[g]?.[b]?.get(key)
  }

  has(key: string): boolean {
    return this.get(key) !== undefined
  }

  set(key: string, value: V): PersistentMap<V> {
    if (typeof key !== 'string' || !KEY_RE.test(key)) throw new W3aError('INTERNAL', 'persistent map keys are lowercase 0x-hex')
    if (value === undefined) throw new W3aError('INTERNAL', 'persistent map values cannot be undefined')
    const [g, b] = slot(key)
    const group = this.#top[g]
    const bucket = group?.[b]
    const had = bucket?.has(key) ?? false
    const nextBucket = new Map(bucket ?? [])
    nextBucket.set(key, value)
    const nextGroup = group ? group.slice() : new Array<Bucket<V> | undefined>(16).fill(undefined)
    nextGroup[b] = nextBucket
    const nextTop = this.#top.slice()
    nextTop[g] = nextGroup
    return new PersistentMap(nextTop, this.size + (had ? 0 : 1))
  }

  delete(key: string): PersistentMap<V> {
    if (!this.has(key)) return this
    const [g, b] = slot(key)
    const nextBucket = new Map(this.#top[g]![b]!)
    nextBucket.delete(key)
    const nextGroup = this.#top[g]!.slice()
    nextGroup[b] = nextBucket.size > 0 ? nextBucket : undefined
    const nextTop = this.#top.slice()
    nextTop[g] = nextGroup.some((x) => x !== undefined) ? nextGroup : undefined
    return new PersistentMap(nextTop, this.size - 1)
  }

  /** All entries in ascending key order (byte order, for keys of equal length). */
  *entries(): IterableIterator<[string, V]> {
    for (const group of this.#top) {
      if (!group) continue
      for (const bucket of group) {
        if (!bucket) continue
        for (const k of [...bucket.keys()].sort()) yield [k, bucket.get(k)!]
      }
    }
  }

  *keys(): IterableIterator<string> {
    for (const [k] of this.entries()) yield k
  }

  /** The digest described above; `leafHash` must be a pure function of (key, value). */
  digest(leafHash: (key: string, value: V) => Uint8Array, cache: DigestCache): Uint8Array {
    const cachedTop = cache.tops.get(this.#top)
    if (cachedTop) return cachedTop
    const groups = this.#top.map((group) => (group ? groupHash(group, leafHash, cache) : EMPTY_GROUP_HASH))
    const h = keccak_256(concat(groups))
    cache.tops.set(this.#top, h)
    return h
  }
}

function groupHash<V>(group: Group<V>, leafHash: (key: string, value: V) => Uint8Array, cache: DigestCache): Uint8Array {
  const cached = cache.groups.get(group)
  if (cached) return cached
  const h = keccak_256(concat(group.map((bucket) => (bucket ? bucketHash(bucket, leafHash, cache) : EMPTY_HASH))))
  cache.groups.set(group, h)
  return h
}

function bucketHash<V>(bucket: Bucket<V>, leafHash: (key: string, value: V) => Uint8Array, cache: DigestCache): Uint8Array {
  const cached = cache.buckets.get(bucket)
  if (cached) return cached
  const leaves = [...bucket.keys()].sort().map((k) => {
    const v = bucket.get(k)!
    if (typeof v !== 'object' || v === null) return leafHash(k, v)
    const hit = cache.leaves.get(v)
    if (hit && hit.key === k) return hit.hash
    const hash = leafHash(k, v)
    cache.leaves.set(v, { key: k, hash })
    return hash
  })
  const h = keccak_256(concat(leaves))
  cache.buckets.set(bucket, h)
  return h
}

function slot(key: string): [number, number] {
  return [parseInt(key[2]!, 16), parseInt(key[3]!, 16)]
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}
