/**
 * Web analytics end to end (issue 12), with real parts: `w3a up` (Anvil, the sim keeper worker
 * that plays the ingest role, the gateway serving /js/w3a.js) and Debian's headless Chromium
 * loading a real page with the tracker, navigating it as a single-page app and sending a custom
 * event. Then the site owner's signed stats request returns the expected page views, visitors
 * and sources (under k), and no plaintext URL, source or user agent is found in the data dir.
 * Needs `chromium` on PATH (`apt-get install -y chromium`) and a built dist/ (npm run build).
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { mkdtempSync, readFileSync, readdirSync, statSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { devAccount } from '../src/chain/dev-accounts.js'
import { siteFor } from '../src/sdk/actions/site.js'
import { statsRequestText, type StatsRequest } from '../src/enclave/ingest-stats.js'

const BIN = join(import.meta.dirname, '..', 'bin', 'w3a.mjs')
const CHROMIUM = process.env['CHROMIUM'] ?? 'chromium'
const work = mkdtempSync(join(tmpdir(), 'w3a-web-'))
const dataDir = join(work, 'data')
const owner = devAccount(0)
const DOMAIN = 'shop.example'
let site = ''
let salt = ''
// Distinctive plaintext: random strings cannot appear in ciphertext by chance.
const canary = randomBytes(6).toString('hex')
const pricing = `/pricing-${canary}`
const campaign = `newsletter-${canary}`
const uaMark = `W3aTestBrowser-${canary}`

let up: ChildProcess | undefined
let gatewayUrl = ''
let page: Server | undefined
let pageUrl = ''
let referrerUrl = ''

/** The CLI, run without blocking this process (a blocked event loop would miss its HTTP connections closing). */
async function w3a(args: string[]): Promise<{ code: number; stdout: string; stderr: string; json: any }> {
  // W3A_DATA_DIR: the devnet's own pin (`w3a up` writes it there) is the network these commands trust.
  const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, W3A_DATA_DIR: dataDir } })
  let stdout = ''
  let stderr = ''
  p.stdout!.on('data', (d) => (stdout += d))
  p.stderr!.on('data', (d) => (stderr += d))
  const code = await new Promise<number>((resolve) => p.once('exit', (c) => resolve(c ?? -1)))
  let json: unknown
  try {
    json = JSON.parse(stdout)
  } catch {
    json = undefined
  }
  return { code, stdout, stderr, json }
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? filesUnder(p) : [p]
  })
}

before(async () => {
  up = spawn(process.execPath, [BIN, 'up', '--data-dir', dataDir, '--port', '0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const stderr: string[] = []
  createInterface({ input: up.stderr! }).on('line', (l) => stderr.push(l))
  gatewayUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`w3a up not ready in 90s:\n${stderr.join('\n')}`)), 90_000)
    up!.once('exit', (code) => reject(new Error(`w3a up exited (${code}):\n${stderr.join('\n')}`)))
    createInterface({ input: up!.stdout! }).once('line', (line) => {
      clearTimeout(timer)
      resolve((JSON.parse(line) as { gatewayUrl: string }).gatewayUrl)
    })
  })
  // The owner makes the site with the CLI; the page carries the tag `w3a site snippet` prints.
  const added = await w3a(['site', 'add', DOMAIN, '--account', '0', '--gateway', gatewayUrl, '--json'])
  assert.equal(added.code, 0, added.stderr)
  const derived = await siteFor(owner, DOMAIN)
  assert.equal(added.json.id, derived.id)
  site = derived.id
  salt = derived.salt
  const snippet = await w3a(['site', 'snippet', site, '--gateway', gatewayUrl, '--json'])
  assert.equal(snippet.code, 0, snippet.stderr)
  assert.equal(snippet.json.snippet, added.json.snippet)
  // The site: a landing page with the one script tag and an in-app link (history API), and a
  // page on another origin (localhost vs 127.0.0.1) that links to it, for a referrer.
  page = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === '/from-blog') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(`<a id="go" href="${pageUrl}/">go</a><script>document.getElementById('go').click()</script>`)
      return
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>shop</title>
${snippet.json.snippet}
<a id="pricing" href="${pricing}">pricing</a>
<script>
  window.w3a = window.w3a || function () { (window.w3a.q = window.w3a.q || []).push(arguments) }
  document.getElementById('pricing').addEventListener('click', (e) => { e.preventDefault(); history.pushState({}, '', '${pricing}') })
  addEventListener('load', () => setTimeout(() => {
    document.getElementById('pricing').click()
    w3a('event', 'Signup', { props: { plan: 'pro' } })
  }, 300))
</script>`)
  })
  await new Promise<void>((r) => page!.listen(0, '127.0.0.1', r))
  const port = (page.address() as { port: number }).port
  pageUrl = `http://127.0.0.1:${port}`
  referrerUrl = `http://localhost:${port}/from-blog`
})

after(async () => {
  page?.close()
  if (up && up.exitCode === null) {
    const exited = new Promise((r) => up!.once('exit', r))
    up.removeAllListeners('exit')
    up.kill('SIGINT')
    await exited
  }
  rmSync(work, { recursive: true, force: true })
})

/** One visitor: a fresh headless Chromium (own profile, own user agent) on `url`. */
function visit(url: string, visitor: number): Promise<void> {
  const profile = join(work, `profile-${visitor}`)
  const ua = `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Safari/537.36 ${uaMark}-${visitor}`
  const args = ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', `--user-data-dir=${profile}`, `--user-agent=${ua}`, '--virtual-time-budget=4000', '--dump-dom', url]
  return new Promise((resolve, reject) => {
    const p = spawn(CHROMIUM, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    p.stderr!.on('data', (d) => (err += d))
    p.once('error', reject)
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`chromium exited ${code}: ${err.slice(-2000)}`))))
  })
}

async function stats(metrics: StatsRequest['metrics'], dimensions: StatsRequest['dimensions']): Promise<any> {
  const base = { site, owner: owner.address, salt, metrics, dimensions, period: '1h' as const, issuedAt: Math.floor(Date.now() / 1000) }
  const signature = await owner.signMessage({ message: statsRequestText(base, 31337) })
  const res = await fetch(`${gatewayUrl}/api/v1/sites/stats`, { method: 'POST', body: JSON.stringify({ ...base, signature }) })
  const body = await res.json()
  assert.equal(res.status, 200, JSON.stringify(body))
  return body
}

test('tracker in headless Chromium → sealed events → ingest enclave → owner stats, with no plaintext at rest', { timeout: 300_000 }, async () => {
  const script = await fetch(`${gatewayUrl}/js/w3a.js`)
  assert.equal(script.status, 200)
  assert.match(script.headers.get('content-type') ?? '', /javascript/)

  // 10 visitors from the newsletter campaign, 2 from a referring page: two at a time.
  const visits = [...Array.from({ length: 10 }, (_, i) => `${pageUrl}/?utm_source=${campaign}&utm_medium=email`), referrerUrl, referrerUrl]
  for (let i = 0; i < visits.length; i += 2) await Promise.all(visits.slice(i, i + 2).map((u, j) => visit(u, i + j)))

  // Each visitor: page view of /, page view of the pricing page (history API), one Signup.
  let total: any
  for (let tries = 0; tries < 50; tries++) {
    total = await stats(['visitors', 'pageviews', 'events'], [])
    if (total.results[0]?.metrics[2] >= 36) break
    await new Promise((r) => setTimeout(r, 200))
  }
  assert.deepEqual(total.results, [{ dimensions: [], metrics: [12, 24, 36] }])
  assert.equal(total.meta.privacy.k, 10)

  const pages = await stats(['visitors', 'pageviews'], ['event:page'])
  assert.deepEqual(pages.results.map((r: any) => [r.dimensions[0], ...r.metrics]).sort(), [['/', 12, 12], [pricing, 12, 12]])

  // Sources: the campaign's 10 visitors are shown; the referring site's 2 are under k and suppressed.
  const sources = await stats(['visitors'], ['visit:source'])
  assert.deepEqual(sources.results, [{ dimensions: [campaign], metrics: [10] }])
  assert.equal(sources.meta.privacy.suppressed, 1)

  // The same through the CLI, signed with the owner's account.
  const cli = await w3a(['site', 'stats', DOMAIN, '--metrics', 'visitors', '--dimensions', 'visit:source', '--period', '1h', '--account', '0', '--gateway', gatewayUrl, '--json'])
  assert.equal(cli.code, 0, cli.stderr)
  assert.deepEqual(cli.json.results, sources.results)

  const names = await stats(['events'], ['event:name'])
  assert.deepEqual(names.results.map((r: any) => [r.dimensions[0], r.metrics[0]]).sort(), [['Signup', 12], ['pageview', 24]])

  // The same through Plausible's Stats API v2 shape.
  const v2 = { site_id: site, metrics: ['visitors', 'pageviews'], dimensions: ['event:page'], date_range: '1h' }
  const issuedAt = Math.floor(Date.now() / 1000)
  const v2sig = await owner.signMessage({ message: statsRequestText({ site, owner: owner.address, salt, metrics: v2.metrics as StatsRequest['metrics'], dimensions: v2.dimensions as StatsRequest['dimensions'], period: '1h', issuedAt }, 31337) })
  const v2res = await fetch(`${gatewayUrl}/api/v2/query`, { method: 'POST', body: JSON.stringify({ ...v2, w3a: { owner: owner.address, salt, issuedAt, signature: v2sig } }) })
  const v2body = (await v2res.json()) as any
  assert.equal(v2res.status, 200, JSON.stringify(v2body))
  assert.deepEqual(v2body.results, pages.results)
  assert.equal(v2body.meta.privacy.k, 10)

  // Someone else's signature gets nothing.
  const base = { site, owner: owner.address, salt, metrics: ['visitors'], dimensions: [], period: '1h', issuedAt: Math.floor(Date.now() / 1000) }
  const forged = await devAccount(1).signMessage({ message: statsRequestText(base as any, 31337) })
  const refused = await fetch(`${gatewayUrl}/api/v1/sites/stats`, { method: 'POST', body: JSON.stringify({ ...base, signature: forged }) })
  assert.notEqual(refused.status, 200)
  assert.equal(((await refused.json()) as any).error.code, 'SIGNATURE_INVALID')

  // Nothing in the clear at rest: not the page path, the campaign, the referring host's page or the user agent.
  const files = filesUnder(dataDir)
  assert.ok(files.some((f) => f.endsWith('events.wal')), 'the sealed ingest log is in the data dir')
  for (const f of files) {
    const text = readFileSync(f).toString('latin1')
    for (const secret of [pricing, campaign, uaMark, 'from-blog']) assert.ok(!text.includes(secret), `${secret} found in ${f}`)
  }
})
