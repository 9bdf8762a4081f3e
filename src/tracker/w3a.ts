/**
 * The W3A tracker (browser; bundled to dist/js/w3a.js, served at /js/w3a.js, ≤ 3 KB gzipped):
 *   <script defer data-site="SITE_ID" data-key="INGEST_KEY_HEX" src="https://GATEWAY/js/w3a.js"></script>
 * Page views (including single-page apps through the history API; hash routing with
 * `data-hash`) and `w3a('event', name, { props, revenue })` (or Plausible's own
 * `plausible(name, { props, revenue })`, queue included). No cookies and no identifier of
 * any kind: the visitor is counted inside the ingest enclave from a daily salt. Do-Not-Track,
 * Global Privacy Control and `localStorage.w3a_ignore = 'true'` (the site's own exclusion) turn
 * it off. Every event is sealed to the site's ingest key (event-format.ts); the gateway relays
 * ciphertext it cannot open.
 * Opt-in extras (Plausible's event names): `data-outbound-links` ("Outbound Link: Click"),
 * `data-file-downloads` ("File Download"; `data-file-types="pdf,zip"` replaces the extension
 * list), `data-404` on a not-found page's tag ("404"); each with props { url } or { path }.
 * Visitor's choice (docs/visitor.md): the gateway's "my data" page sends the visitor back here
 * with `#w3a-optin=TOKEN` (kept as `localStorage.w3a_id`; each event then carries it, sealed)
 * or `#w3a-optout` (sets `w3a_ignore`: nothing is sent from this browser any more).
 */
import { openEventContext, sealEvent, type EventContext } from './seal-event.js'
import type { PlausibleEvent } from './event-format.js'

type Options = { props?: PlausibleEvent['p']; revenue?: PlausibleEvent['$']; callback?: () => void }

const w = window as unknown as { w3a?: ((...a: unknown[]) => void) & { q?: unknown[][] } }
const script = document.currentScript as HTMLScriptElement
const data = script.dataset
const site = data['site'] ?? ''
const keyHex = data['key'] ?? ''
const endpoint = data['api'] ?? new URL(script.src).origin + '/api/event'
const nav = navigator as Navigator & { globalPrivacyControl?: boolean }
let ignored = false
let token: string | null = null
try {
  const choice = /^#w3a-opt(in=([\w.-]+)|out)$/.exec(location.hash)
  if (choice) {
    history.replaceState(history.state, '', location.pathname + location.search)
    if (choice[2]) localStorage.setItem('w3a_id', choice[2]), localStorage.removeItem('w3a_ignore')
    else localStorage.setItem('w3a_ignore', 'true'), localStorage.removeItem('w3a_id')
  }
  ignored = localStorage.getItem('w3a_ignore') === 'true'
  token = localStorage.getItem('w3a_id')
} catch {
  // storage blocked: nothing to honour
}
const off = ignored || nav.doNotTrack === '1' || nav.globalPrivacyControl === true || !site || !/^[0-9a-f]{64}$/i.test(keyHex)

/** The page's one HPKE context (made on the first event) and its next sequence number. */
let context: Promise<EventContext> | undefined
let seq = 0

async function send(name: string, opts: Options = {}): Promise<void> {
  if (off) return opts.callback?.()
  const event: PlausibleEvent = { n: name, u: location.href, d: site, r: document.referrer || null, w: innerWidth }
  if (opts.props) event.p = opts.props
  if (opts.revenue) event.$ = opts.revenue
  if (token) event.i = token
  const ctx = await (context ??= openEventContext(site, new Uint8Array(keyHex.match(/../g)!.map((h) => parseInt(h, 16)))))
  // text/plain: a simple request, no CORS preflight; keepalive lets the last event outlive the page.
  const body = JSON.stringify(await sealEvent(ctx, seq++, event))
  await fetch(endpoint, { method: 'POST', body, keepalive: true, headers: { 'content-type': 'text/plain' } }).catch(() => undefined)
  opts.callback?.()
}

let lastPage: string | undefined
function pageview(): void {
  const page = location.pathname + (data['hash'] !== undefined ? location.hash : '')
  if (page === lastPage) return
  lastPage = page
  void send('pageview')
}

const queued = w.w3a?.q ?? []
w.w3a = (kind: unknown, name?: unknown, opts?: unknown) => {
  if (kind === 'event' && typeof name === 'string') void send(name, opts as Options)
  else if (kind === 'pageview') pageview()
}
for (const args of queued) w.w3a(...args)

// Plausible's own call and queue, `plausible('Signup', { props, revenue, callback })`: a site
// moving from Plausible changes only its script tag, its custom-event code stays.
const wp = window as unknown as { plausible?: ((...a: unknown[]) => void) & { q?: unknown[][] } }
const plausibleQueued = wp.plausible?.q ?? []
wp.plausible = (name: unknown, opts?: unknown) => (name === 'pageview' ? pageview() : w.w3a!('event', name, opts))
for (const args of plausibleQueued) wp.plausible(...args)

const push = history.pushState
history.pushState = function (...args: Parameters<History['pushState']>) {
  push.apply(this, args)
  pageview()
}
addEventListener('popstate', pageview)
if (data['hash'] !== undefined) addEventListener('hashchange', pageview)
pageview()
if (data['404'] !== undefined) void send('404', { props: { path: location.pathname } })

// Outbound links and file downloads (opt-in). A same-tab left click waits for the event (at most 1 s), as Plausible does.
const types = (data['fileTypes'] ?? 'pdf,xlsx,docx,txt,rtf,csv,exe,key,pps,ppt,pptx,7z,pkg,rar,gz,zip,avi,mov,mp4,mpeg,wmv,midi,mp3,wav,wma,dmg').split(',')
function click(e: MouseEvent): void {
  const a = (e.target as Element | null)?.closest?.('a[href]') as HTMLAnchorElement | null
  if (!a) return
  const ext = a.pathname.split('.').pop()!.toLowerCase()
  const name = data['fileDownloads'] !== undefined && a.pathname.includes('.') && types.includes(ext) ? 'File Download' : data['outboundLinks'] !== undefined && a.host && a.host !== location.host ? 'Outbound Link: Click' : ''
  if (!name) return
  const wait = e.type === 'click' && !e.button && !e.ctrlKey && !e.metaKey && !e.shiftKey && !e.defaultPrevented && (!a.target || a.target === '_self')
  let go = false
  const follow = () => { if (wait && !go) (go = true), location.assign(a.href) }
  if (wait) e.preventDefault(), setTimeout(follow, 1000)
  void send(name, { props: { url: a.href }, callback: follow })
}
addEventListener('click', click)
addEventListener('auxclick', click)
