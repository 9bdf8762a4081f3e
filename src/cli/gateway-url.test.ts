import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_GATEWAY_URL, resolveGatewayUrl } from './gateway-url.js'

function withDataDir(run: unknown): { dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'w3a-gw-'))
  if (run !== undefined) writeFileSync(join(dir, 'run.json'), typeof run === 'string' ? run : JSON.stringify(run))
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) }
}

const RUN = { pid: 4242, gatewayUrl: 'http://127.0.0.1:41234', rpcUrl: 'http://127.0.0.1:1', chainId: 31337, startedAt: '2026-01-01T00:00:00.000Z' }
const alive = () => true

test('the run.json of the data dir gives the gateway, and the note names the file', () => {
  const { dir, done } = withDataDir(RUN)
  try {
    const r = resolveGatewayUrl({ dataDir: dir, env: {}, isAlive: alive })
    assert.equal(r.url, 'http://127.0.0.1:41234')
    assert.equal(r.source, 'run-file')
    assert.equal(r.runFile, join(dir, 'run.json'))
    assert.match(r.note ?? '', /^using gateway http:\/\/127\.0\.0\.1:41234 \(from .*run\.json\)$/)
  } finally {
    done()
  }
})

test('W3A_DATA_DIR is read when --data-dir is not given', () => {
  const { dir, done } = withDataDir(RUN)
  try {
    assert.equal(resolveGatewayUrl({ env: { W3A_DATA_DIR: dir }, isAlive: alive }).url, RUN.gatewayUrl)
  } finally {
    done()
  }
})

test('a missing data dir, or one without run.json, falls back to the default port quietly', () => {
  const { dir, done } = withDataDir(undefined)
  try {
    for (const dataDir of [dir, join(dir, 'does-not-exist')]) {
      const r = resolveGatewayUrl({ dataDir, env: {}, isAlive: alive })
      assert.deepEqual(r, { url: DEFAULT_GATEWAY_URL, source: 'default' })
    }
  } finally {
    done()
  }
})

test('a run.json left by a dead w3a up, or not a run file, is skipped', () => {
  const stale = withDataDir(RUN)
  const junk = withDataDir('{"gatewayUrl": 5}')
  try {
    const r = resolveGatewayUrl({ dataDir: stale.dir, env: {}, isAlive: (pid) => pid !== 4242 })
    assert.equal(r.url, DEFAULT_GATEWAY_URL)
    assert.match(r.note ?? '', /pid 4242\) is not running/)
    assert.deepEqual(resolveGatewayUrl({ dataDir: junk.dir, env: {}, isAlive: alive }), { url: DEFAULT_GATEWAY_URL, source: 'default' })
  } finally {
    stale.done()
    junk.done()
  }
})

test('the real pid probe: this process is alive', () => {
  const { dir, done } = withDataDir({ ...RUN, pid: process.pid })
  try {
    assert.equal(resolveGatewayUrl({ dataDir: dir, env: {} }).source, 'run-file')
  } finally {
    done()
  }
})

test('--gateway wins over W3A_GATEWAY, which wins over run.json', () => {
  const { dir, done } = withDataDir(RUN)
  try {
    const env = { W3A_GATEWAY: 'http://env.example:1' }
    const flag = resolveGatewayUrl({ flag: 'http://flag.example:2', dataDir: dir, env, isAlive: alive })
    assert.deepEqual(flag, { url: 'http://flag.example:2', source: 'flag' })
    const fromEnv = resolveGatewayUrl({ dataDir: dir, env, isAlive: alive })
    assert.equal(fromEnv.url, 'http://env.example:1')
    assert.equal(fromEnv.source, 'env')
    assert.match(fromEnv.note ?? '', /W3A_GATEWAY/)
  } finally {
    done()
  }
})
