import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { acquireLockFile } from './lock-file.js'
import { isW3aError } from './errors.js'

const dir = () => mkdtempSync(join(tmpdir(), 'w3a-lock-'))

test('a held lock refuses a second holder, and release frees it', () => {
  const path = join(dir(), 'up.lock')
  const lock = acquireLockFile(path, 'the dir')
  assert.equal(readFileSync(path, 'utf8'), String(process.pid))
  assert.throws(() => acquireLockFile(path, 'the dir'), (e) => isW3aError(e, 'DATA_DIR_IN_USE') && /process \d+/.test(e.message))
  lock.release()
  assert.equal(existsSync(path), false)
  acquireLockFile(path, 'the dir').release()
})

test('a lock left by a dead process is taken over', () => {
  const path = join(dir(), 'up.lock')
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  writeFileSync(path, dead.stdout)
  const lock = acquireLockFile(path, 'the dir')
  assert.equal(readFileSync(path, 'utf8'), String(process.pid))
  lock.release()
})

test('release does not remove a lock that another process now holds', () => {
  const path = join(dir(), 'up.lock')
  const lock = acquireLockFile(path, 'the dir')
  writeFileSync(path, '1') // pid 1 is alive: someone else's lock now
  lock.release()
  assert.equal(readFileSync(path, 'utf8'), '1')
})
