import assert from 'node:assert/strict'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { gzipSync, gunzipSync } from 'node:zlib'
import { createStaticFiles } from './static-files.js'

const dir = mkdtempSync(join(tmpdir(), 'w3a-static-'))
mkdirSync(join(dir, 'app', 'assets'), { recursive: true })
writeFileSync(join(dir, 'app', 'index.html'), '<!doctype html><title>W3A</title>')
const js = 'console.log("dashboard")'
writeFileSync(join(dir, 'app', 'assets', 'main-ABC.js'), js)
writeFileSync(join(dir, 'app', 'assets', 'main-ABC.js.gz'), gzipSync(js))
writeFileSync(join(dir, 'secret.txt'), 'outside the app folder')
after(() => rmSync(dir, { recursive: true, force: true }))

const serve = createStaticFiles(join(dir, 'app'))
const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => serve(new Request(`http://gw${path}`, { method, headers }), new URL(`http://gw${path}`).pathname)

test('/ is index.html, revalidated each load, with a CSP that forbids framing', async () => {
  const res = (await get('/'))!
  assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8')
  assert.equal(res.headers.get('cache-control'), 'no-cache')
  assert.match(res.headers.get('content-security-policy')!, /frame-ancestors 'none'/)
  assert.match(await res.text(), /<title>W3A<\/title>/)
})

test('hashed assets are immutable, gzipped for browsers that accept it, plain otherwise', async () => {
  const gz = (await get('/assets/main-ABC.js', { 'accept-encoding': 'gzip, br' }))!
  assert.equal(gz.headers.get('content-encoding'), 'gzip')
  assert.equal(gz.headers.get('content-type'), 'text/javascript; charset=utf-8')
  assert.match(gz.headers.get('cache-control')!, /immutable/)
  assert.equal(gunzipSync(Buffer.from(await gz.arrayBuffer())).toString(), js)
  const plain = (await get('/assets/main-ABC.js'))!
  assert.equal(plain.headers.get('content-encoding'), null)
  assert.equal(await plain.text(), js)
  assert.equal((await get('/assets/main-ABC.js', {}, 'HEAD'))!.body, null)
})

test('nothing outside the folder, no .gz twin by name, no unknown type, no POST: left to the 404', async () => {
  for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/assets/main-ABC.js.gz', '/missing.js', '/%E0%A4%A']) {
    assert.equal(await get(path), null, path)
  }
  assert.equal(await get('/assets/main-ABC.js', {}, 'POST'), null)
})
