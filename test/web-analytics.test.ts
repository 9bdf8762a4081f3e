/**
 * Web analytics end to end (issue 12), with real parts: `w3a up` (Anvil, the sim keeper worker
 * that plays the ingest role, the gateway serving /js/w3a.js and storing blocks) and Debian's
 * headless Chromium loading a real page with the tracker, navigating it as a single-page app and
 * sending a custom event. `w3a site add` registers the site as a W3A dataset the ingest worker
 * appends to; the acknowledged rows go into Parquet segments sealed with the site key; then the
 * Stats API, answered by W3A jobs under the site's policy (DP), returns the expected page views,
 * visitors and sources, goals (with their conversion rate), a custom property and a funnel, and no plaintext URL, source or user agent is found in any data dir
 * (chain, gateway and storage, worker). Needs `chromium` on PATH (`apt-get install -y chromium`)
 * and a built dist/ (npm run build).
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, rmSync, existsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { devAccount } from '../src/chain/dev-accounts.js'
import { siteFor } from '../src/sdk/actions/site.js'
import { statsRequestText, type StatsAnswer, type StatsRequest } from '../src/enclave/ingest-stats.js'
import { getSiteRealtime } from '../src/sdk/actions/getSiteRealtime.js'
import { createW3aClient } from '../src/sdk/index.js'
import { openEventContext, sealEvent } from '../src/tracker/seal-event.js'
import { hexToBytes } from 'viem'
import { siteConfigPath } from '../src/cli/site-config.js'
import { runW3a, startW3aUp, W3A_BIN as BIN, type W3aRun, type W3aUp } from './w3a-up-process.js'

const CHROMIUM = process.env['CHROMIUM'] ?? 'chromium'
const work = mkdtempSync(join(tmpdir(), 'w3a-web-'))
const dataDir = join(work, 'data')
const owner = devAccount(0)
const DOMAIN = 'shop.example'
let site = ''
let ingestKey = ''
let added: { ingestWorker: string; manifestCid: string } = { ingestWorker: '', manifestCid: '' }
let salt = ''
// Distinctive plaintext: random strings cannot appear in ciphertext by chance.
const canary = randomBytes(6).toString('hex')
const pricing = `/pricing-${canary}`
const campaign = `newsletter-${canary}`
const uaMark = `W3aTestBrowser-${canary}`

let up: W3aUp | undefined
let gatewayUrl = ''
let page: Server | undefined
let pageUrl = ''
let referrerUrl = ''

/** The CLI, run without blocking this process (a blocked event loop would miss its HTTP connections closing). */
// W3A_DATA_DIR: the devnet's own pin (`w3a up` writes it there) is the network these commands trust.
const w3a = (args: string[]): Promise<W3aRun> => runW3a(args, { ...process.env, W3A_DATA_DIR: dataDir })

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? filesUnder(p) : [p]
  })
}

before(async () => {
  // Segments every 2 s (default 10 s), so the test waits less.
  up = await startW3aUp(dataDir, 90_000, { ...process.env, W3A_INGEST_FLUSH_MS: '2000' })
  gatewayUrl = up.gatewayUrl
  // The owner makes the site with the CLI; the page carries the tag `w3a site snippet` prints.
  // Its policy stays DP; the owner picks a large ε per query (and a budget for the test's queries)
  // so that the noisy figures are close enough to check.
  const addedRun = await w3a(['site', 'add', DOMAIN, '--account', '0', '--gateway', gatewayUrl, '--json', '--epsilon', '100', '--min-epsilon', '50', '--epsilon-budget', '5000', '--analyst-epsilon-budget', '5000', '--allow-exact'])
  assert.equal(addedRun.code, 0, addedRun.stderr)
  added = addedRun.json
  ingestKey = addedRun.json.ingestKey.slice(2)
  const derived = await siteFor(owner, DOMAIN)
  assert.equal(addedRun.json.id, derived.id)
  assert.deepEqual(addedRun.json.steps, ['verify', 'segment', 'register', 'custody', 'policy', 'writer', 'list', 'ingest'])
  site = derived.id
  salt = derived.salt
  const snippet = await w3a(['site', 'snippet', site, '--gateway', gatewayUrl, '--json'])
  assert.equal(snippet.code, 0, snippet.stderr)
  assert.equal(snippet.json.snippet, addedRun.json.snippet)
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
  // The site's code as it was with Plausible (its queue snippet and call): only the script tag changed.
  window.plausible = window.plausible || function () { (window.plausible.q = window.plausible.q || []).push(arguments) }
  document.getElementById('pricing').addEventListener('click', (e) => { e.preventDefault(); history.pushState({}, '', '${pricing}') })
  addEventListener('load', () => setTimeout(() => {
    document.getElementById('pricing').click()
    plausible('Signup', { props: { plan: 'pro' } })
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
  await up?.stop()
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

/** The owner's realtime figures, as the SDK reads them (sealed to it, signed by the ingest worker). */
async function stats(metrics: StatsRequest['metrics'], dimensions: StatsRequest['dimensions']): Promise<StatsAnswer> {
  return getSiteRealtime(createW3aClient({ gatewayUrl, account: owner }), { domain: DOMAIN, metrics, dimensions, period: '1h' })
}

/** A DP figure: within `tolerance` of the truth (the noise scale the job reports is what allows it). */
function near(actual: unknown, expected: number, tolerance: number, what: string): void {
  assert.ok(typeof actual === 'number' && Math.abs(actual - expected) <= tolerance, `${what}: ${String(actual)}, expected ${expected} ± ${tolerance}`)
}

test('tracker in headless Chromium → sealed events → ingest enclave → segments of the site dataset → Stats API by jobs, with no plaintext at rest', { timeout: 600_000 }, async () => {
  const script = await fetch(`${gatewayUrl}/js/w3a.js`)
  assert.equal(script.status, 200)
  assert.match(script.headers.get('content-type') ?? '', /javascript/)

  // An event for a site nobody registered is refused, not stored.
  const unknown = await fetch(`${gatewayUrl}/api/event`, { method: 'POST', body: JSON.stringify(await sealEvent(await openEventContext(`0x${'ab'.repeat(32)}`, hexToBytes(`0x${ingestKey}`)), 0, { n: 'pageview', u: `https://x.example${pricing}`, d: 'x' })) })
  assert.equal(unknown.status, 404)
  assert.equal(((await unknown.json()) as any).error.code, 'SITE_NOT_REGISTERED')

  // 12 visitors from the newsletter campaign, 2 from a referring page: two at a time.
  const visits = [...Array.from({ length: 12 }, (_, i) => `${pageUrl}/?utm_source=${campaign}&utm_medium=email`), referrerUrl, referrerUrl]
  for (let i = 0; i < visits.length; i += 2) await Promise.all(visits.slice(i, i + 2).map((u, j) => visit(u, i + j)))

  // Each visitor: page view of /, page view of the pricing page (history API), one Signup.
  // Realtime (the ingest enclave, k rule): every acknowledged event.
  let total: any
  for (let tries = 0; tries < 50; tries++) {
    total = await stats(['visitors', 'pageviews', 'events'], [])
    if (total.results[0]?.metrics[2] >= 42) break
    await new Promise((r) => setTimeout(r, 200))
  }
  assert.deepEqual(total.results, [{ dimensions: [], metrics: [14, 28, 42] }])
  // The CLI reads the same realtime figures (sealed to it, signed by the ingest worker).
  const cliNow = await w3a(['site', 'stats', DOMAIN, '--metrics', 'visitors,pageviews,events', '--period', '1h', '--account', '0', '--gateway', gatewayUrl, '--json'])
  assert.equal(cliNow.code, 0, cliNow.stderr)
  assert.deepEqual(cliNow.json.results, [{ dimensions: [], metrics: [14, 28, 42] }])
  const sourcesNow = await stats(['visitors'], ['visit:source'])
  assert.deepEqual(sourcesNow.results, [{ dimensions: [campaign], metrics: [12] }])
  assert.equal(sourcesNow.meta.privacy.suppressed, 1)

  // The ingest worker appends them to the site's dataset: wait until no row waits.
  let listed: any
  for (let tries = 0; tries < 120; tries++) {
    listed = await w3a(['site', 'ls', '--account', '0', '--gateway', gatewayUrl, '--json'])
    assert.equal(listed.code, 0, listed.stderr)
    if (listed.json[0]?.pending === 0 && listed.json[0]?.segments >= 2) break
    await new Promise((r) => setTimeout(r, 500))
  }
  assert.equal(listed.json.length, 1)
  assert.equal(listed.json[0].id, site)
  assert.equal(listed.json[0].pending, 0, JSON.stringify(listed.json))
  assert.ok(listed.json[0].segments >= 2, 'the owner\'s empty first segment and at least one appended')
  assert.equal(listed.json[0].writer.toLowerCase(), added.ingestWorker.toLowerCase())
  const status = (await (await fetch(`${gatewayUrl}/api/v1/ingest/status`)).json()) as any
  assert.equal(status.unknownSiteRefusals, 1)
  assert.equal(status.sites[0].manifestCid, listed.json[0].manifestCid, 'the chain points at the manifest the ingest worker appended')
  // A replaced manifest (each lists every segment) is unpinned at the next flush; the segments it listed stay.
  const served = async (cid: string) => (await fetch(`${gatewayUrl}/ipfs/${cid}?format=raw`)).status
  for (let tries = 0; (await served(added.manifestCid)) !== 404; tries++) {
    assert.ok(tries < 120, `the registration manifest ${added.manifestCid} is still served a minute after it was replaced`)
    await new Promise((r) => setTimeout(r, 500))
  }
  assert.equal(await served(listed.json[0].manifestCid), 200)

  // Stats by jobs (DP under the site policy): exact whole-site totals (allowed by the policy) ...
  const totals = await w3a(['site', 'stats', DOMAIN, '--metrics', 'visitors,pageviews,events', '--period', 'all', '--epsilon', '0', '--account', '0', '--gateway', gatewayUrl, '--json'])
  assert.equal(totals.code, 0, totals.stderr)
  assert.deepEqual(totals.json.results, [{ dimensions: [], metrics: [14, 28, 42] }])
  assert.equal(totals.json.meta.privacy.epsilon, 0)
  // ... page views per page, DP ...
  const pages = await w3a(['site', 'stats', DOMAIN, '--metrics', 'visitors,pageviews', '--dimensions', 'event:page', '--period', '7d', '--account', '0', '--gateway', gatewayUrl, '--json'])
  assert.equal(pages.code, 0, pages.stderr)
  assert.deepEqual(pages.json.results.map((r: any) => r.dimensions[0]).sort(), ['/', pricing].sort())
  for (const r of pages.json.results) {
    near(r.metrics[0], 14, 1, `visitors of ${r.dimensions[0]}`)
    near(r.metrics[1], 14, 6, `page views of ${r.dimensions[0]}`)
  }
  assert.equal(pages.json.meta.privacy.epsilon, 100)
  assert.equal(pages.json.meta.privacy.mechanism, 'discrete-laplace')
  assert.ok(pages.json.meta.privacy.noise, 'the noise scale is reported')
  // ... and sources: the campaign's 12 visitors; the referring site's 2 are below the threshold.
  const sources = await w3a(['site', 'stats', DOMAIN, '--metrics', 'visitors', '--dimensions', 'visit:source', '--period', 'day', '--account', '0', '--gateway', gatewayUrl, '--json'])
  assert.equal(sources.code, 0, sources.stderr)
  assert.deepEqual(sources.json.results.map((r: any) => r.dimensions[0]), [campaign])
  near(sources.json.results[0].metrics[0], 12, 1, 'campaign visitors')

  // Goals (kept by the ingest enclave) and a custom property: every visitor saw /, then the
  // pricing page, then signed up with plan "pro". The Signup goal is in the data dir's file an
  // earlier version kept: the first goals command imports it (once) and says so.
  const legacy = siteConfigPath(dataDir, site as `0x${string}`)
  mkdirSync(dirname(legacy), { recursive: true })
  writeFileSync(legacy, JSON.stringify({ site, domain: DOMAIN, goals: [{ event: 'Signup' }], funnels: [] }))
  for (const [i, goal] of [['--page', '/pricing*'], ['--page', '/']].entries()) {
    const added = await w3a(['site', 'goals', 'add', DOMAIN, ...goal, '--account', '0', '--gateway', gatewayUrl, '--json'])
    assert.equal(added.code, 0, added.stderr)
    assert.equal(/imported 1 goal\(s\) and 0 funnel\(s\)/.test(added.stderr), i === 0, added.stderr)
    assert.equal(added.json.version, i + 2, 'the import is version 1')
  }
  assert.ok(!existsSync(legacy) && existsSync(legacy.replace(/\.json$/, '.imported.json')), 'the file is renamed once imported')
  const goalList = await w3a(['site', 'goals', 'ls', DOMAIN, '--account', '0', '--gateway', gatewayUrl, '--json'])
  assert.deepEqual(goalList.json.goals, [{ event: 'Signup' }, { page: '/pricing*' }, { page: '/' }])
  const goals = await w3a(['site', 'stats', DOMAIN, '--metrics', 'visitors,events,conversion_rate', '--dimensions', 'event:goal', '--period', 'day', '--account', '0', '--gateway', gatewayUrl, '--json'])
  assert.equal(goals.code, 0, goals.stderr)
  assert.deepEqual(goals.json.results.map((r: any) => r.dimensions[0]).sort(), ['Signup', 'Visit /', 'Visit /pricing*'])
  for (const r of goals.json.results) {
    near(r.metrics[0], 14, 1, `visitors of goal ${r.dimensions[0]}`)
    near(r.metrics[1], 14, 6, `completions of goal ${r.dimensions[0]}`)
    near(r.metrics[2], 100, 15, `conversion rate of goal ${r.dimensions[0]}`)
  }
  assert.equal(goals.json.meta.privacy.jobs.length, 2, 'conversion_rate: the goal query and its denominator')
  assert.equal(goals.json.meta.privacy.epsilon, 200)
  const plans = await w3a(['site', 'stats', DOMAIN, '--metrics', 'visitors,events', '--dimensions', 'event:props:plan', '--period', 'day', '--account', '0', '--gateway', gatewayUrl, '--json'])
  assert.equal(plans.code, 0, plans.stderr)
  const byPlan = Object.fromEntries(plans.json.results.map((r: any) => [r.dimensions[0], r.metrics]))
  assert.deepEqual(Object.keys(byPlan).sort(), ['(none)', 'pro'])
  near(byPlan['pro'][0], 14, 1, 'visitors with plan pro')
  near(byPlan['pro'][1], 14, 6, 'events with plan pro')
  near(byPlan['(none)'][1], 28, 6, 'events without a plan (the page views)')
  // Funnels: a per-unit function job over each visitor's events in order. Everyone signed up
  // after landing on /, nobody came back to / after signing up. (The pricing page view and the
  // Signup leave the page in the same tick: their order at the ingest worker is a race.)
  for (const [name, steps, want] of [['buy', 'Visit /,Signup', [14, 14]], ['backwards', 'Signup,Visit /', [14, 0]]] as const) {
    const funnelAdded = await w3a(['site', 'funnels', 'add', DOMAIN, name, '--steps', steps, '--account', '0', '--gateway', gatewayUrl, '--json'])
    assert.equal(funnelAdded.code, 0, funnelAdded.stderr)
    const funnel = await w3a(['site', 'funnel', DOMAIN, name, '--period', 'day', '--account', '0', '--gateway', gatewayUrl, '--json'])
    assert.equal(funnel.code, 0, funnel.stderr)
    assert.deepEqual(funnel.json.steps.map((s: any) => s.goal), steps.split(','))
    funnel.json.steps.forEach((s: any, i: number) => near(s.visitors, want[i]!, 1, `funnel ${name} step ${s.goal}`))
  }

  // Plausible's Stats API v2, served on the owner's machine (answers open only with its key).
  const api = spawn(process.execPath, [BIN, 'site', 'api', '--port', '0', '--account', '0', '--gateway', gatewayUrl, '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, W3A_DATA_DIR: dataDir } })
  try {
    const apiUrl = await new Promise<string>((resolve, reject) => {
      api.once('exit', (code) => reject(new Error(`w3a site api exited ${code}`)))
      createInterface({ input: api.stdout! }).once('line', (l) => resolve((JSON.parse(l) as { url: string }).url))
    })
    const today = new Date().toISOString().slice(0, 10)
    const res = await fetch(`${apiUrl}/api/v2/query`, { method: 'POST', body: JSON.stringify({ site_id: DOMAIN, metrics: ['visitors', 'views_per_visit', 'bounce_rate'], date_range: [today, today], filters: [['is', 'visit:utm_medium', ['email']]] }) })
    const body = (await res.json()) as any
    assert.equal(res.status, 200, JSON.stringify(body))
    near(body.results[0].metrics[0], 12, 1, 'campaign visitors (filter)')
    near(body.results[0].metrics[1], 2, 1, 'views per visit')
    assert.ok(body.meta.privacy.k === 10 && body.meta.privacy.epsilon === 100)
    // The site's goals apply here too.
    const signups = await fetch(`${apiUrl}/api/v2/query`, { method: 'POST', body: JSON.stringify({ site_id: DOMAIN, metrics: ['visitors'], date_range: [today, today], filters: [['is', 'event:goal', ['Signup']]] }) })
    const signupBody = (await signups.json()) as any
    assert.equal(signups.status, 200, JSON.stringify(signupBody))
    near(signupBody.results[0].metrics[0], 14, 1, 'visitors who signed up (goal filter)')
    const bad = await fetch(`${apiUrl}/api/v2/query`, { method: 'POST', body: JSON.stringify({ site_id: DOMAIN, metrics: ['visitors'], dimensions: ['event:goal'], filters: [['is', 'event:goal', ['Nope']]] }) })
    assert.equal(bad.status, 400)
  } finally {
    api.kill('SIGINT')
  }

  // Someone else's signature gets nothing.
  const base = { site, owner: owner.address, salt, metrics: ['visitors'], dimensions: [], period: '1h', box: `0x${'5'.repeat(64)}`, issuedAt: Math.floor(Date.now() / 1000) }
  const forged = await devAccount(1).signMessage({ message: statsRequestText(base as any, 31337) })
  const refused = await fetch(`${gatewayUrl}/api/v1/sites/stats`, { method: 'POST', body: JSON.stringify({ ...base, signature: forged }) })
  assert.notEqual(refused.status, 200)
  assert.equal(((await refused.json()) as any).error.code, 'SIGNATURE_INVALID')

  // Nothing in the clear at rest, in any part's data dir (chain, gateway storage, worker): not
  // the page path, the campaign, the referring page or the user agent.
  const files = filesUnder(dataDir)
  assert.ok(files.some((f) => /events\.[0-9a-f]{32}\.wal$/.test(f)), 'the sealed ingest log is in the data dir')
  assert.ok(files.some((f) => /[/\\]sites\.\d+\.sealed$/.test(f)), 'the sealed site book (a file of the sealed head) is in the data dir')
  for (const f of files) {
    const text = readFileSync(f).toString('latin1')
    for (const secret of [pricing, campaign, uaMark, 'from-blog']) assert.ok(!text.includes(secret), `${secret} found in ${f}`)
  }
})
