/**
 * Visitors' data rights end to end (issue 12, docs/visitor.md), with real parts: `w3a up` (the
 * sim keeper worker plays the ingest role; the gateway serves the tracker and the "my data"
 * page) and Debian's headless Chromium driven by playwright-core. Ten visitors (tracker sealing
 * code, posted through the gateway) make the site's totals pass k; then in Chromium:
 *   - a visitor opts in on the gateway's "my data" page, browses the site (SPA navigation, a
 *     404 page, an outbound link, a file download: the tracker's opt-in extras), sees their
 *     events decrypted in the page, downloads them, refuses a receipt the gateway altered,
 *     deletes them with a receipt the page verifies, and the next stats no longer count them; the
 *     page then shows the second receipt, for the site's stored segments;
 *   - another visitor opts out with one click, and their browser sends nothing after that.
 * Needs `chromium` (Debian's /usr/bin/chromium) and a built dist/ (npm run build).
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { devAccount } from '../src/chain/dev-accounts.js'
import { siteFor } from '../src/sdk/actions/site.js'
import type { StatsRequest } from '../src/enclave/ingest-stats.js'
import { getSiteRealtime } from '../src/sdk/actions/getSiteRealtime.js'
import { createW3aClient } from '../src/sdk/index.js'
import { openEventContext, sealEvent } from '../src/tracker/seal-event.js'
import { startW3aUp, W3A_BIN as BIN, type W3aUp } from './w3a-up-process.js'

const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium'
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Safari/537.36'
const work = mkdtempSync(join(tmpdir(), 'w3a-visitor-'))
const owner = devAccount(0)
const DOMAIN = 'shop.example'
let site = ''
let salt = ''
let ingestKey = ''
let up: W3aUp | undefined
let gatewayUrl = ''
let shop: Server | undefined
let shopUrl = ''
let browser: Browser | undefined

before(async () => {
  up = await startW3aUp(join(work, 'data'))
  gatewayUrl = up.gatewayUrl
  // The owner registers the site (a W3A dataset the ingest worker appends to): only registered sites' events are kept.
  const added = spawnSync(process.execPath, [BIN, 'site', 'add', DOMAIN, '--account', '0', '--gateway', gatewayUrl, '--json'], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, W3A_DATA_DIR: join(work, 'data') } })
  assert.equal(added.status, 0, `w3a site add: ${added.stderr}${added.stdout}`)
  const derived = await siteFor(owner, DOMAIN)
  site = derived.id
  salt = derived.salt
  ingestKey = ((await (await fetch(`${gatewayUrl}/api/v1/ingest`)).json()) as { hpkePublicKey: string }).hpkePublicKey.slice(2)
  // The shop: its pages carry the tag with the opt-in extras and a "your data" link to the gateway's page.
  const tag = (extra = '') => `<script defer data-site="${site}" data-key="${ingestKey}" data-outbound-links data-file-downloads ${extra} src="${gatewayUrl}/js/w3a.js"></script>`
  const myData = () => `${gatewayUrl}/my-data?site=${site}&back=${encodeURIComponent(`${shopUrl}/`)}`
  shop = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (path === '/partner') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>partner</title><p>another site, no tracker</p>')
    if (path === '/files/report.pdf') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('report')
    if (path === '/missing') return void res.writeHead(404, { 'content-type': 'text/html' }).end(`<!doctype html><title>not found</title>${tag('data-404')}<p>not found</p>`)
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>shop</title>
${tag()}
<a id="pricing" href="/pricing">pricing</a> <a id="out" href="${shopUrl.replace('127.0.0.1', 'localhost')}/partner">partner</a>
<a id="file" href="/files/report.pdf">report</a> <a id="mydata" href="${myData()}">your data</a>
<script>document.getElementById('pricing').addEventListener('click', (e) => { e.preventDefault(); history.pushState({}, '', '/pricing') })</script>`)
  })
  await new Promise<void>((r) => shop!.listen(0, '127.0.0.1', r))
  shopUrl = `http://127.0.0.1:${(shop.address() as { port: number }).port}`
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] })
})

after(async () => {
  await browser?.close()
  shop?.close()
  await up?.stop()
  rmSync(work, { recursive: true, force: true })
})

/** The owner's realtime figures, as the SDK reads them (sealed to it, signed by the ingest worker). */
async function stats(metrics: StatsRequest['metrics']): Promise<number[]> {
  const answer = await getSiteRealtime(createW3aClient({ gatewayUrl, account: owner }), { domain: DOMAIN, metrics, dimensions: [], period: '1h' })
  return answer.results[0]?.metrics ?? []
}

/** Counts the sealed events a browser context posts to the gateway. */
function eventCounter(context: BrowserContext): () => number {
  let n = 0
  context.on('request', (r) => void (r.method() === 'POST' && r.url() === `${gatewayUrl}/api/event` && n++))
  return () => n
}

let counted: (() => number) | undefined
async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 100))
  assert.ok(ok(), `${what} (events sent so far: ${String(counted?.())})`)
}

async function clickAndWaitForEvent(page: Page, selector: string): Promise<void> {
  const sent = page.waitForRequest((r) => r.method() === 'POST' && r.url() === `${gatewayUrl}/api/event`)
  await page.click(selector)
  await sent
}

test('a visitor opts in, browses, sees, downloads and deletes their data with a verified receipt; an opted-out browser sends nothing', { timeout: 300_000 }, async () => {
  // Ten visitors (distinct browsers) view the home page: sealed with the tracker's own code.
  for (let v = 0; v < 10; v++) {
    const ctx = await openEventContext(site, Buffer.from(ingestKey, 'hex'))
    const body = JSON.stringify(await sealEvent(ctx, 0, { n: 'pageview', u: `${shopUrl}/`, d: site, r: null, w: 1280 }))
    const res = await fetch(`${gatewayUrl}/api/event`, { method: 'POST', body, headers: { 'content-type': 'text/plain', 'user-agent': `${UA} visitor-${v}` } })
    assert.equal(res.status, 200, await res.text())
  }
  assert.deepEqual(await stats(['visitors', 'pageviews']), [10, 10])

  // The opted-in visitor.
  const context = await browser!.newContext({ userAgent: `${UA} opted-in`, acceptDownloads: true })
  const sentByMe = eventCounter(context)
  counted = sentByMe
  const page = await context.newPage()
  await page.goto(`${shopUrl}/`)
  await until('the first page view is sent', () => sentByMe() === 1)
  await page.click('#mydata') // an outbound link too: "Outbound Link: Click", then the gateway's page
  await page.waitForURL(/\/my-data\?site=/)
  await until('the outbound click to the "my data" page is sent', () => sentByMe() === 2)
  assert.equal(await page.textContent('#site'), site)
  const back = page.waitForURL(`${shopUrl}/`)
  const optedIn = page.waitForRequest((r) => r.url() === `${gatewayUrl}/api/event`)
  await page.click('#optin')
  await back
  await optedIn
  assert.equal(page.url(), `${shopUrl}/`, 'the tracker took the token out of the address')
  const token = await page.evaluate(() => localStorage.getItem('w3a_id'))
  assert.match(token ?? '', /^[\w-]{87}\.[\w-]{86}$/)
  await clickAndWaitForEvent(page, '#pricing') // SPA page view
  await page.goto(`${shopUrl}/missing`) // a page view and "404"
  await until('the 404 page sends a page view and "404"', () => sentByMe() === 6)
  await page.goto(`${shopUrl}/`)
  await until('the home page view is sent', () => sentByMe() === 7)
  await clickAndWaitForEvent(page, '#file') // "File Download", then the tracker follows the link
  await page.waitForURL(`${shopUrl}/files/report.pdf`)
  await page.goto(`${shopUrl}/`)
  await until('the home page view is sent', () => sentByMe() === 9)
  await clickAndWaitForEvent(page, '#out') // "Outbound Link: Click"
  await page.waitForURL(/localhost:\d+\/partner/)
  // Opted in from the third event on: 2 anonymous events before, 8 events after.
  assert.equal(sentByMe(), 10)

  // Their data, decrypted in their page only.
  await page.goto(`${gatewayUrl}/my-data?site=${site}&back=${encodeURIComponent(`${shopUrl}/`)}`)
  let shown = ''
  for (let tries = 0; tries < 50 && !shown.startsWith('8 events'); tries++) {
    await page.click('#show')
    await page.waitForFunction(() => document.getElementById('status')!.textContent !== '…')
    shown = (await page.textContent('#status')) ?? ''
  }
  assert.equal(shown, '8 events held about you; the receipt verifies.')
  const cells = await page.$$eval('#rows tr.row', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td) => td.textContent)))
  const namesAndPages = cells.map((c) => `${c[1]} ${c[2]}`).sort()
  assert.deepEqual(namesAndPages, ['404 /missing', 'File Download /', 'Outbound Link: Click /', 'pageview /', 'pageview /', 'pageview /', 'pageview /missing', 'pageview /pricing'])

  const downloading = page.waitForEvent('download')
  await page.click('#download')
  const download = await downloading
  const file = JSON.parse(readFileSync((await download.path())!, 'utf8'))
  assert.equal(file.site, site)
  assert.equal(file.rows.length, 8)
  assert.equal(file.receipt.kind, 'export')

  // The gateway (relaying) alters an answer: the page refuses it.
  await page.route(`${gatewayUrl}/api/v1/visitor`, async (route) => {
    const res = await route.fetch()
    const body = (await res.json()) as any
    body.receipt.rows = 0
    await route.fulfill({ response: res, json: body })
  })
  await page.click('#show')
  await page.waitForFunction(() => document.getElementById('status')!.className === 'error')
  assert.match((await page.textContent('#status')) ?? '', /not by the ingest worker/)
  await page.unroute(`${gatewayUrl}/api/v1/visitor`)

  // Before deleting: 11 visitors (10 + the opted-in one; their anonymous first view counts as another visitor of the day).
  const [visitorsBefore, pageviewsBefore] = await stats(['visitors', 'pageviews'])
  assert.equal(pageviewsBefore, 10 + 1 + 5)
  assert.equal(visitorsBefore, 12)
  await page.click('#delete')
  await page.waitForFunction(() => document.getElementById('status')!.textContent !== '…')
  assert.equal(await page.textContent('#status'), 'Deleted 8 events; the receipt verifies.')
  const receipt = JSON.parse((await page.textContent('#receipt'))!)
  assert.equal(receipt.receipt.kind, 'delete')
  assert.equal(receipt.receipt.rows, 8)
  assert.match(receipt.verified, /^signed by the ingest worker 0x[0-9a-f]{40}$/)
  assert.deepEqual(await stats(['visitors', 'pageviews']), [11, 11], 'the next stats no longer count the deleted events')
  // The page follows the deletion into the stored segments and shows the enclave's second receipt.
  await page.waitForFunction(() => /receipt verifies/.test(document.getElementById('segments')!.textContent!), undefined, { timeout: 120_000 })
  assert.match((await page.textContent('#segments')) ?? '', /^Stored segments (rewritten without your \d+ events under a new site key, new manifest|hold none of your events \(manifest) b[a-z2-7]+\)?; the receipt verifies\.$/)
  const second = JSON.parse((await page.textContent('#segments-receipt'))!)
  assert.equal(second.receipt.kind, 'rewrite')
  assert.equal(second.receipt.visitor, receipt.receipt.visitor)
  assert.match(second.verified, /^signed by the ingest worker 0x[0-9a-f]{40}$/)
  await page.click('#show')
  await page.waitForFunction(() => /events held/.test(document.getElementById('status')!.textContent!))
  assert.equal(await page.textContent('#status'), '0 events held about you; the receipt verifies.')

  // Another browser opts out with one click: nothing is sent from it after that.
  const other = await browser!.newContext({ userAgent: `${UA} opted-out` })
  const sentByOther = eventCounter(other)
  const p2 = await other.newPage()
  // First through a link someone else made, sending the visitor back to another site: the page refuses to go there, for opt-in (the token) and opt-out alike.
  const crafted = `${gatewayUrl}/my-data?site=${site}&back=${encodeURIComponent('https://evil.example/')}`
  await p2.goto(crafted)
  for (const button of ['#optin', '#optout']) {
    await p2.click(button)
    await p2.waitForFunction(() => document.getElementById('status')!.className === 'error')
    assert.match((await p2.textContent('#status')) ?? '', /\(evil\.example\) is not on this site's domain \(shop\.example\)/)
    assert.equal(p2.url(), crafted)
    await p2.evaluate(() => (document.getElementById('status')!.className = ''))
  }
  await p2.goto(`${gatewayUrl}/my-data?site=${site}&back=${encodeURIComponent(`${shopUrl}/`)}`)
  await p2.click('#optout')
  await p2.waitForURL(`${shopUrl}/`)
  await p2.waitForFunction(() => localStorage.getItem('w3a_ignore') === 'true')
  await p2.click('#pricing')
  await p2.goto(`${shopUrl}/missing`)
  await p2.goto(`${shopUrl}/`)
  await p2.click('#file')
  await p2.waitForURL(`${shopUrl}/files/report.pdf`)
  assert.equal(sentByOther(), 0)
  assert.deepEqual(await stats(['visitors', 'pageviews']), [11, 11])
  await context.close()
  await other.close()
})
