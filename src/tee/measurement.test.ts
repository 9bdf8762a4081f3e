import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bytesToHex } from 'viem'
import { measureBundle, measureDirectory, tdxMeasurement } from './measurement.js'
import { isW3aError } from '../core/errors.js'

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'w3a-measure-'))
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true })
    writeFileSync(join(dir, rel), content)
  }
  return dir
}

test('the listing format is the documented one (independent sha256)', async () => {
  const dir = tree({ 'b.js': 'B', 'a/x.js': 'XX' })
  const h = createHash('sha256').update('w3a/bundle/v1\n')
  for (const [p, c] of [['a/x.js', 'XX'], ['b.js', 'B']] as const) {
    const head = Buffer.alloc(4 + p.length + 8)
    head.writeUInt32BE(p.length, 0)
    head.write(p, 4)
    head.writeBigUInt64BE(BigInt(c.length), 4 + p.length)
    h.update(head).update(c)
  }
  assert.equal(await measureDirectory(dir), bytesToHex(h.digest()))
  rmSync(dir, { recursive: true })
})

test('same files, any creation order: same measurement; any change: another one', async () => {
  const a = tree({ 'x.js': '1', 'lib/y.js': '2' })
  const b = tree({ 'lib/y.js': '2', 'x.js': '1' })
  const m = await measureDirectory(a)
  assert.equal(await measureDirectory(b), m)
  const changed = [
    tree({ 'x.js': '1', 'lib/y.js': '3' }), // content
    tree({ 'x.js': '1', 'lib/z.js': '2' }), // name
    tree({ 'x.js': '1', 'lib/y.js': '2', 'extra.js': '' }), // added (even empty)
    tree({ 'x.js': '1' }), // removed
  ]
  for (const d of changed) assert.notEqual(await measureDirectory(d), m)
  for (const d of [a, b, ...changed]) rmSync(d, { recursive: true })
})

test('path/content boundaries cannot be shifted to collide', async () => {
  const a = tree({ ab: 'c' })
  const b = tree({ a: 'bc' })
  assert.notEqual(await measureDirectory(a), await measureDirectory(b))
  rmSync(a, { recursive: true })
  rmSync(b, { recursive: true })
})

test('filter, file lists and refusals', async () => {
  const dir = tree({ 'x.js': '1', 'x.test.js': 't', 'sub/y.js': '2' })
  const filtered = await measureDirectory(dir, (p, isDir) => isDir || !p.endsWith('.test.js'))
  const plain = tree({ 'x.js': '1', 'sub/y.js': '2' })
  assert.equal(filtered, await measureDirectory(plain))
  rmSync(plain, { recursive: true })
  assert.equal(await measureBundle(['sub/y.js', 'x.js', 'x.test.js'], { root: dir }), await measureDirectory(dir))
  assert.equal(await measureBundle(dir), await measureDirectory(dir))
  await assert.rejects(measureBundle(['../etc/passwd'], { root: dir }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
  symlinkSync('/etc/hostname', join(dir, 'link.js'))
  await assert.rejects(measureDirectory(dir), (e) => isW3aError(e, 'INVALID_ARGUMENT') && /symbolic link/.test(e.message))
  await assert.rejects(measureDirectory(join(dir, 'missing')), (e) => isW3aError(e, 'INPUT_UNREADABLE'))
  rmSync(dir, { recursive: true })
})

test('tdxMeasurement = sha256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2)', () => {
  const r = (n: number) => new Uint8Array(48).fill(n)
  const expected = bytesToHex(createHash('sha256').update(Buffer.concat([r(1), r(2), r(3), r(4)])).digest())
  assert.equal(tdxMeasurement({ mrtd: r(1), rtmr0: r(2), rtmr1: r(3), rtmr2: r(4) }), expected)
  assert.notEqual(tdxMeasurement({ mrtd: r(1), rtmr0: r(2), rtmr1: r(4), rtmr2: r(3) }), expected)
  assert.throws(() => tdxMeasurement({ mrtd: new Uint8Array(32), rtmr0: r(2), rtmr1: r(3), rtmr2: r(4) }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
})
