import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isW3aError } from '../core/errors.js'
import { createRootUploaders } from './root-uploaders.js'

const A = '0x00000000000000000000000000000000000000Aa' as const
const B = '0x00000000000000000000000000000000000000bB' as const
const R1 = 'bafkreiroot1'
const R2 = 'bafkreiroot2'

test('who uploaded each root survives a restart, one file per account; a root shared by two stays claimed until both let go', () => {
  const dir = mkdtempSync(join(tmpdir(), 'w3a-uploaders-'))
  try {
    const first = createRootUploaders({ dir })
    first.record(A, R1)
    first.record(B, R1)
    first.record(A, R2)
    assert.deepEqual(readdirSync(dir).sort(), [`${A.toLowerCase()}.json`, `${B.toLowerCase()}.json`])
    const again = createRootUploaders({ dir })
    assert.deepEqual(again.uploadersOf(R1).sort(), [A.toLowerCase(), B.toLowerCase()])
    assert.deepEqual(again.roots().sort(), [R1, R2])
    again.release(A, R1)
    assert.deepEqual(again.uploadersOf(R1), [B.toLowerCase()])
    again.forget(R2)
    const third = createRootUploaders({ dir })
    assert.deepEqual(third.uploadersOf(R1), [B.toLowerCase()])
    assert.deepEqual(third.uploadersOf(R2), [])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test("an account's record is bounded: past it the account's own oldest root goes, nobody else's, also across a restart", () => {
  const dir = mkdtempSync(join(tmpdir(), 'w3a-uploaders-'))
  try {
    const u = createRootUploaders({ dir, maxRootsPerAccount: 2 })
    u.record(A, R1)
    u.record(B, R1)
    u.record(A, R2)
    u.record(A, R1) // already held: no change of order
    u.record(A, 'bafkreiroot3')
    assert.deepEqual(u.uploadersOf(R1), [B.toLowerCase()], "A's oldest went; B's claim on the same root stays")
    const again = createRootUploaders({ dir, maxRootsPerAccount: 2 })
    again.record(A, 'bafkreiroot4')
    assert.deepEqual(again.roots().sort(), [R1, 'bafkreiroot3', 'bafkreiroot4'].sort())
    assert.deepEqual(again.uploadersOf(R2), [])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('an unpin signature is accepted once while it is valid', () => {
  let now = 1000
  const u = createRootUploaders({ now: () => now })
  u.useSignature('0x01', 1100)
  assert.throws(() => u.useSignature('0x01', 1100), (e) => isW3aError(e, 'UPLOAD_UNAUTHORIZED'))
  now = 1200 // expired: forgotten (the signature's own expiry refuses it anyway)
  u.useSignature('0x01', 1300)
})

test('a damaged record stops the node instead of silently dropping the protection it gives', () => {
  const dir = mkdtempSync(join(tmpdir(), 'w3a-uploaders-'))
  try {
    writeFileSync(join(dir, `${A.toLowerCase()}.json`), '["bafk')
    assert.throws(() => createRootUploaders({ dir }), (e) => isW3aError(e, 'INPUT_MALFORMED') && /does not parse/.test(e.message))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
