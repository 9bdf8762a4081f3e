import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex } from 'viem'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { testBytes } from './fixture.test.js'
import { PersistentMap, createDigestCache } from './persistent-map.js'

type V = { n: number }
const leaf = (k: string, v: V) => keccak_256(new TextEncoder().encode(`${k}=${v.n}`))
const key = (i: number) => bytesToHex(testBytes(`key ${i}`))

describe('persistent map', () => {
  it('is immutable: set and delete return new maps', () => {
    const m0 = PersistentMap.empty<V>()
    const m1 = m0.set(key(1), { n: 1 })
    const m2 = m1.set(key(2), { n: 2 }).delete(key(1))
    assert.equal(m0.size, 0)
    assert.equal(m1.size, 1)
    assert.equal(m1.get(key(1))?.n, 1)
    assert.equal(m2.get(key(1)), undefined)
    assert.equal(m2.get(key(2))?.n, 2)
    assert.equal(m2.delete(key(9)), m2)
    assert.throws(() => m0.set('0xABCD', { n: 0 }))
  })

  it('iterates in key order and digests by content only (any insertion order, cached or not)', () => {
    const n = 600 // enough for several keys per bucket
    let forward = PersistentMap.empty<V>()
    for (let i = 0; i < n; i++) forward = forward.set(key(i), { n: i })
    let backward = PersistentMap.empty<V>()
    for (let i = n - 1; i >= 0; i--) backward = backward.set(key(i), { n: i })
    const keys = [...forward.keys()]
    assert.deepEqual(keys, [...keys].sort())
    assert.deepEqual(keys, [...backward.keys()])
    const cache = createDigestCache()
    const d = bytesToHex(forward.digest(leaf, cache))
    assert.equal(bytesToHex(backward.digest(leaf, createDigestCache())), d)
    // Update then revert through the cache: the digest follows the content exactly.
    const changed = forward.set(key(7), { n: -1 })
    const dc = bytesToHex(changed.digest(leaf, cache))
    assert.notEqual(dc, d)
    assert.equal(dc, bytesToHex(changed.digest(leaf, createDigestCache())))
    assert.equal(bytesToHex(changed.set(key(7), { n: 7 }).digest(leaf, cache)), d)
    assert.equal(bytesToHex(forward.delete(key(3)).set(key(3), { n: 3 }).digest(leaf, cache)), d)
    assert.notEqual(bytesToHex(forward.delete(key(3)).digest(leaf, cache)), d)
  })
})
