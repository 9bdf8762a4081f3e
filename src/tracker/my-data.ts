/**
 * The visitor's "my data" page (browser; bundled to dist/js/my-data.js, served by the gateway
 * at /my-data?site=SITE_ID&back=SITE_URL; docs/visitor.md). Plain DOM, WebCrypto, no framework.
 *
 * Keys: two P-256 key pairs made here on first use (ECDSA to sign, ECDH for the export box),
 * private halves non-extractable, kept in this origin's IndexedDB. Opt-in: the page signs
 * optInText(site) and sends the visitor back to the site with `#w3a-optin=TOKEN`, which the
 * tracker keeps in the site's localStorage (the gateway's storage is another origin's).
 * Opt-out: back to the site with `#w3a-optout` (one click). See / download / delete: a request
 * signed with the visitor's key, answered by the ingest enclave; the export is sealed to the
 * box key and opened only here; every answer's receipt must recover to the ingest worker's
 * address (EIP-191), or the page says it does not verify. After a deletion the page asks
 * ('rewrite', a fresh signed request every few seconds) until the enclave's receipt names the
 * site manifest whose stored segments no longer hold the visitor's rows, and shows it.
 */
import { makeVisitorKeys, openBox, optInToken, receiptProblem, visitorRequest, type VisitorKeys } from './visitor-crypto.js'
import type { VisitorAction, VisitorAnswer } from './visitor-format.js'
import { backAddressProblem } from './visitor-back.js'

const $ = (id: string) => document.getElementById(id)!
const params = new URLSearchParams(location.search)
const site = (params.get('site') ?? '').toLowerCase()
const back = params.get('back') ?? ''

function status(text: string, kind: 'ok' | 'error' | '' = ''): void {
  const el = $('status')
  el.textContent = text
  el.className = kind
}

function db(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open('w3a-visitor', 1)
    open.onupgradeneeded = () => open.result.createObjectStore('keys')
    open.onsuccess = () => resolve(open.result)
    open.onerror = () => reject(open.error)
  })
}

async function stored(): Promise<VisitorKeys | undefined> {
  const d = await db()
  return new Promise((resolve, reject) => {
    const get = d.transaction('keys').objectStore('keys').get('visitor')
    get.onsuccess = () => resolve(get.result as VisitorKeys | undefined)
    get.onerror = () => reject(get.error)
  })
}

/** This browser's keys, made (and stored) on first use. */
async function keys(): Promise<VisitorKeys> {
  const have = await stored()
  if (have) return have
  const made = await makeVisitorKeys()
  const d = await db()
  await new Promise<void>((resolve, reject) => {
    const tx = d.transaction('keys', 'readwrite')
    tx.objectStore('keys').put(made, 'visitor')
    tx.oncomplete = () => resolve()
    tx.onerror = () => reject(tx.error)
  })
  return made
}

/** Why the back address may not be used (visitor-back.ts), from the site's registered domain and the network's dev flag; undefined when it may. */
let backCheck: Promise<string | undefined> | undefined
function backProblem(): Promise<string | undefined> {
  backCheck ??= Promise.all([
    fetch('/api/v1/ingest/status').then((r) => r.json() as Promise<{ sites?: { site: string; domain?: string }[] }>),
    fetch('/api/v1/network').then((r) => r.json() as Promise<{ dev?: boolean }>),
  ]).then(([st, net]) => backAddressProblem(back, st.sites?.find((x) => x.site === site)?.domain, net.dev === true))
  return backCheck
}

/** Sends the visitor back to the site with `fragment` (made by `make` only once the address is checked). */
async function goBack(make: () => Promise<string>): Promise<void> {
  const problem = await backProblem()
  if (problem) return status(problem, 'error')
  location.assign(back.replace(/#.*$/, '') + (await make()))
}

/** Signs and sends a request; checks the receipt against the ingest worker's address before anything else. */
async function ask(action: VisitorAction, receiptEl = 'receipt'): Promise<VisitorAnswer> {
  const request = await visitorRequest(await keys(), site, action)
  const res = await fetch('/api/v1/visitor', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) })
  const answer = (await res.json()) as VisitorAnswer & { error?: { message: string } }
  if (!res.ok) throw new Error(answer.error?.message ?? `the gateway answered ${res.status}`)
  const worker = ((await (await fetch('/api/v1/ingest')).json()) as { address: string }).address.toLowerCase()
  const problem = await receiptProblem(answer, request, worker)
  if (problem) throw new Error(problem)
  $(receiptEl).textContent = JSON.stringify({ receipt: answer.receipt, signature: answer.signature, verified: `signed by the ingest worker ${worker}` }, null, 2)
  return answer
}

function show(rows: Record<string, unknown>[]): void {
  const cols = ['ts', 'name', 'page', 'source', 'country', 'device', 'browser', 'os']
  const table = $('rows') as HTMLTableElement
  table.replaceChildren()
  const head = table.insertRow()
  for (const c of cols) head.insertCell().textContent = c
  for (const r of rows) {
    const tr = table.insertRow()
    tr.className = 'row'
    for (const c of cols) tr.insertCell().textContent = c === 'ts' ? new Date(r[c] as number).toISOString() : String(r[c] ?? '')
  }
}

let exported: string | undefined
function action(id: string, run: () => Promise<void>): void {
  $(id).addEventListener('click', () => {
    status('…')
    run().catch((e: Error) => status(e.message, 'error'))
  })
}

action('optin', () => goBack(async () => `#w3a-optin=${await optInToken(await keys(), site)}`))
action('optout', () => goBack(async () => '#w3a-optout'))
action('show', async () => {
  const answer = await ask('export')
  const { rows } = await openBox(await keys(), answer.box!)
  show(rows)
  exported = JSON.stringify({ site, rows, receipt: answer.receipt, signature: answer.signature }, null, 2)
  ;($('download') as HTMLButtonElement).disabled = false
  status(`${rows.length} events held about you; the receipt verifies.`, 'ok')
})
action('download', async () => {
  if (!exported) return
  const a = document.createElement('a')
  a.href = URL.createObjectURL(new Blob([exported], { type: 'application/json' }))
  a.download = `w3a-my-data-${site.slice(2, 10)}.json`
  a.click()
  status('Downloaded.', 'ok')
})
action('delete', async () => {
  const answer = await ask('delete')
  $('rows').replaceChildren()
  status(`Deleted ${answer.receipt.rows} events; the receipt verifies.`, 'ok')
  void followRewrite()
})

/** Asks until the deletion has reached the stored segments (or 10 minutes passed); the receipt of each answer is checked. */
async function followRewrite(): Promise<void> {
  const el = $('segments')
  el.textContent = 'Stored segments: being rewritten without your events…'
  for (let i = 0; i < 300; i++) {
    await new Promise((r) => setTimeout(r, 2000))
    let answer: VisitorAnswer
    try {
      answer = await ask('rewrite', 'segments-receipt')
    } catch (e) {
      el.textContent = `Stored segments: ${(e as Error).message}`
      return
    }
    const done = answer.receipt.segments
    if (done !== 'pending') {
      const rows = answer.receipt.rows
      el.textContent =
        done === '' ? 'Stored segments: no deletion recorded.'
        : rows === 0 ? `Stored segments hold none of your events (manifest ${done}); the receipt verifies.`
        : `Stored segments rewritten without your ${rows} events under a new site key, new manifest ${done}; the receipt verifies.`
      return
    }
  }
}

$('site').textContent = site || '(no site)'
$('back').textContent = /^https?:\/\/[^/]+/.exec(back)?.[0] ?? '(none)'
if (!/^0x[0-9a-f]{64}$/.test(site)) status('No site id in the address (?site=0x…).', 'error')
