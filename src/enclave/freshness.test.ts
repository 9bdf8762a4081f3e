import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync, copyFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { KeeperFreshness, peersToCommit, peersToResume } from './freshness.js'
import { SealedHead } from './sealed-head.js'
import { WitnessBook } from './witness-book.js'
import { signReport, signStatement, verifyReport, verifyStatement, ZERO_NONCE } from './witness-report.js'

const domain = { chainId: 31337, registry: '0x1111111111111111111111111111111111111111' as const }
const [a, b, c, outsider] = Array.from({ length: 4 }, () => privateKeyToAccount(generatePrivateKey()))
const root = (n: number): Hex => `0x${n.toString(16).padStart(64, '0')}`
const current = { seq: 7n, root: root(7) }

/** A keeper A that knows B and C (from hand-overs). */
function keeperA(status: 'fresh' | 'unverified' = 'unverified'): KeeperFreshness {
  const f = new KeeperFreshness(a!.address, domain, status)
  f.addKeeper(b!.address)
  f.addKeeper(c!.address)
  return f
}

test('quorums: commit with itself is a strict majority; every resume quorum meets every commit quorum', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 7].map(peersToCommit), [0, 1, 1, 2, 2, 3])
  assert.deepEqual([1, 2, 3, 4, 5, 7].map(peersToResume), [0, 1, 2, 2, 3, 4])
  for (let n = 2; n <= 9; n++) {
    assert.ok(peersToCommit(n) + 1 > n / 2, `commit is a majority (n=${n})`)
    assert.ok(peersToCommit(n) + peersToResume(n) > n - 1, `quorums intersect among the n-1 peers (n=${n})`)
    assert.ok(peersToResume(n) <= n - 1, `resume is possible (n=${n})`)
  }
})

test('statements and reports: signed by whom they name, on this network only', async () => {
  const s = await signStatement(a!, domain, current)
  assert.equal((await verifyStatement(domain, { ...s, seq: s.seq.toString() })).seq, 7n)
  await assert.rejects(verifyStatement(domain, { ...s, seq: '8' }), (e) => isW3aError(e, 'SIGNATURE_INVALID'))
  await assert.rejects(verifyStatement({ ...domain, chainId: 1 }, s), (e) => isW3aError(e, 'SIGNATURE_INVALID'))
  await assert.rejects(verifyStatement(domain, { ...s, keeper: b!.address }), (e) => isW3aError(e, 'SIGNATURE_INVALID'))
  const r = await signReport(b!, domain, { keeper: a!.address, ...current, nonce: ZERO_NONCE })
  assert.equal((await verifyReport(domain, r)).witness, b!.address.toLowerCase())
  await assert.rejects(verifyReport(domain, { ...r, root: root(8) }), (e) => isW3aError(e, 'SIGNATURE_INVALID'))
  await assert.rejects(verifyReport(domain, { ...r, seq: '-1' }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
})

test('witness book: only forward; a lower seq or a fork at the same seq is refused', () => {
  const book = new WitnessBook()
  assert.deepEqual(book.highest(a!.address), { seq: 0n, root: `0x${'00'.repeat(32)}` })
  assert.equal(book.record(a!.address, 3n, root(3)), true)
  assert.equal(book.record(a!.address, 3n, root(3)), false, 'a repeat changes nothing')
  assert.throws(() => book.record(a!.address, 2n, root(2)), (e) => isW3aError(e, 'STATE_ROLLED_BACK'))
  assert.throws(() => book.record(a!.address, 3n, root(99)), (e) => isW3aError(e, 'STATE_ROLLED_BACK'))
  assert.equal(book.record(a!.address, 5n, root(5)), true)
  assert.deepEqual(WitnessBook.import(book.export()).highest(a!.address.toUpperCase().replace('0X', '0x') as Hex), { seq: 5n, root: root(5) })
})

test('commit: distinct known peers acknowledging the current state; own, stale, forged, unknown and repeated reports do not count', async () => {
  const f = keeperA('fresh')
  assert.equal(f.committed(), false, '3 keepers: one peer must acknowledge')
  const ack = (who = b!, v = current, keeper = a!.address) => signReport(who, domain, { keeper, ...v, nonce: ZERO_NONCE })
  const skipped = await f.acknowledge(
    [await ack(a!), await ack(b!, { seq: 6n, root: root(6) }), await ack(outsider!), await ack(b!, current, c!.address), { ...(await ack(c!)), root: root(8) }, 'garbage'],
    current,
  )
  assert.equal(skipped.committed, false)
  assert.equal(skipped.skipped.length, 6)
  const two = await f.acknowledge([await ack(b!), await ack(b!)], current)
  assert.deepEqual([two.committed, two.acks, two.needed], [true, 1, 1])
  f.saved()
  assert.equal(f.committed(), false, 'a new save needs new acknowledgements')
  assert.equal(new KeeperFreshness(a!.address, domain, 'fresh').committed(), true, 'a lone keeper commits by itself')
})

test('resume: fresh with reports of a majority of peers under the challenge; a later seq or another root is a rollback', async () => {
  const report = (who: typeof b, v: { seq: bigint; root: Hex }, nonce: Hex) => signReport(who!, domain, { keeper: a!.address, ...v, nonce })
  const f = keeperA()
  assert.throws(() => f.requireFresh('release'), (e) => isW3aError(e, 'STATE_NOT_FRESH'))
  const n1 = f.newChallenge()
  // One peer, a repeat, an outsider, an old challenge: not enough (3 keepers need both peers).
  await assert.rejects(f.resume([await report(b, current, n1), await report(b, current, n1), await report(outsider, current, n1), await report(c, current, ZERO_NONCE)], current), (e) => isW3aError(e, 'STATE_NOT_FRESH'))
  const n2 = f.newChallenge()
  await assert.rejects(f.resume([await report(b, current, n1), await report(c, current, n1)], current), (e) => isW3aError(e, 'STATE_NOT_FRESH'), 'a new challenge voids the last')
  const ok = await f.resume([await report(b, current, n2), await report(c, { seq: 5n, root: root(5) }, n2)], current)
  assert.equal(ok.status, 'fresh')
  assert.equal(f.committed(), true, 'B saw this very state: it counts as its acknowledgement')

  for (const later of [{ seq: 8n, root: root(8) }, { seq: 7n, root: root(70) }]) {
    const g = keeperA()
    const n = g.newChallenge()
    await assert.rejects(g.resume([await report(b, current, n), await report(c, later, n)], current), (e) => isW3aError(e, 'STATE_ROLLED_BACK'))
    assert.equal(g.status, 'rolled-back')
    assert.throws(() => g.requireFresh('release'), (e) => isW3aError(e, 'STATE_ROLLED_BACK'))
    assert.equal(g.highestSeq, later.seq)
  }
  // A single report of a later state is enough, even short of a quorum; from an outsider it counts for nothing.
  const h = keeperA()
  const n = h.newChallenge()
  await assert.rejects(h.resume([await report(outsider, { seq: 9n, root: root(9) }, n)], current), (e) => isW3aError(e, 'STATE_NOT_FRESH'))
  await assert.rejects(h.resume([await report(c, { seq: 9n, root: root(9) }, n)], current), (e) => isW3aError(e, 'STATE_ROLLED_BACK'))
  // A lone keeper resumes on nothing (nobody else witnessed it: the documented residual).
  assert.equal((await new KeeperFreshness(a!.address, domain, 'unverified').resume([], current)).status, 'fresh')
})

test('sealed head: a version per save; old files are gone; a file from another version is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'w3a-head-'))
  try {
    const key = new Uint8Array(32).fill(3)
    const labels = { x: 'test/x', y: 'test/y' }
    const head = new SealedHead(dir, key, labels)
    head.load()
    assert.equal(head.version().seq, 0n)
    const v1 = head.save({ x: Uint8Array.of(1), y: Uint8Array.of(2) })
    copyFileSync(join(dir, 'x.1.sealed'), join(dir, 'old-x'))
    const v2 = head.save({ x: Uint8Array.of(3) })
    assert.deepEqual([v1.seq, v2.seq], [1n, 2n])
    assert.notEqual(v1.root, v2.root)
    assert.deepEqual(readdirSync(dir).filter((f) => /\.\d+\.sealed$/.test(f)).sort(), ['x.2.sealed', 'y.1.sealed'])
    const again = new SealedHead(dir, key, labels)
    again.load()
    assert.deepEqual(again.version(), v2)
    assert.deepEqual(again.read('x'), Uint8Array.of(3))
    assert.equal(again.save({}, 10n).seq, 11n, 'a recovered state starts above what peers saw')
    // The host puts the old x back under the current name: the head pins another digest.
    copyFileSync(join(dir, 'old-x'), join(dir, 'x.2.sealed'))
    const mixed = new SealedHead(dir, key, labels)
    mixed.load()
    assert.throws(() => mixed.read('x'), (e) => isW3aError(e, 'UNSEAL_FAILED'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
