/**
 * Enrichment of one web-analytics event inside the ingest enclave, by small rules (no database):
 * device, browser and OS from the user agent; referrer source and channel; UTM fields; the page
 * path. The raw user agent and the full referrer URL are dropped here: only these labels are kept.
 * Country is left out: no IP-to-country database package is installed yet (docs/site-owner.md).
 */
import { W3aError } from '../core/errors.js'

export type Enriched = {
  hostname: string
  page: string
  source: string
  channel: string
  utmSource: string
  utmMedium: string
  utmCampaign: string
  utmContent: string
  utmTerm: string
  device: string
  browser: string
  os: string
}

const BOT = /bot|crawl|spider|slurp|headless|lighthouse|pingdom|curl|wget|python-requests|httpclient|facebookexternalhit|preview/i

/** Bots are dropped at ingest (a headless browser says so in its user agent). */
export function isBot(userAgent: string): boolean {
  return userAgent === '' || BOT.test(userAgent)
}

function first(ua: string, rules: [RegExp, string][], fallback: string): string {
  for (const [re, name] of rules) if (re.test(ua)) return name
  return fallback
}

/** Labels by user agent: a site's visitors share a few hundred user agents, and the rules below are a dozen regexes. Bounded. */
const uaLabels = new Map<string, { os: string; browser: string; uaDevice: string }>()
const MAX_UA_LABELS = 10_000

export function parseUserAgent(ua: string, width?: number): { device: string; browser: string; os: string } {
  let l = uaLabels.get(ua)
  if (!l) {
    l = uaRules(ua)
    if (uaLabels.size >= MAX_UA_LABELS) uaLabels.clear()
    uaLabels.set(ua, l)
  }
  // Plausible's rule: screen width first (the tracker sends it), the user agent otherwise.
  const device = width !== undefined && width > 0 ? (width < 576 ? 'Mobile' : width < 992 ? 'Tablet' : width < 1440 ? 'Laptop' : 'Desktop') : l.uaDevice
  return { device, browser: l.browser, os: l.os }
}

function uaRules(ua: string): { os: string; browser: string; uaDevice: string } {
  const os = first(ua, [[/Windows/, 'Windows'], [/iPhone|iPad|iPod/, 'iOS'], [/Android/, 'Android'], [/CrOS/, 'Chrome OS'], [/Mac OS X|Macintosh/, 'Mac'], [/Linux/, 'GNU/Linux']], 'Other')
  const browser = first(ua, [[/Edg\//, 'Edge'], [/OPR\/|Opera/, 'Opera'], [/SamsungBrowser/, 'Samsung Internet'], [/Firefox\/|FxiOS/, 'Firefox'], [/Chrome\/|Chromium\/|CriOS/, 'Chrome'], [/Safari\//, 'Safari']], 'Other')
  const uaDevice = /Mobi|iPhone|Android.*Mobile/.test(ua) ? 'Mobile' : /iPad|Tablet/.test(ua) ? 'Tablet' : 'Desktop'
  return { os, browser, uaDevice }
}

const SEARCH = /(^|\.)(google|bing|duckduckgo|yahoo|baidu|yandex|ecosia|qwant|startpage|brave)\./
const SOCIAL = /(^|\.)(facebook|twitter|x|t|linkedin|reddit|instagram|youtube|pinterest|tiktok|mastodon|news\.ycombinator)\./
const PAID = /^(cpc|ppc|paid|paidsearch|display|cpm)$/i

function host(url: string): string | null {
  try {
    return new URL(url).hostname.replace(/^www\./, '').toLowerCase()
  } catch {
    return null
  }
}

/** Source = utm_source, else the referrer's host (a self-referral is no source); channel by Plausible-like rules. */
export function referrerSource(referrer: string | null | undefined, pageHost: string, utm: { source: string; medium: string }): { source: string; channel: string } {
  const ref = referrer ? host(referrer) : null
  const external = ref !== null && ref !== pageHost.replace(/^www\./, '')
  const source = utm.source || (external ? ref! : 'Direct / None')
  const s = source.toLowerCase()
  let channel = 'Direct'
  if (PAID.test(utm.medium)) channel = SEARCH.test(s + '.') ? 'Paid Search' : 'Paid Social'
  else if (/^e?-?mail$|newsletter/i.test(utm.medium)) channel = 'Email'
  else if (SEARCH.test(s + '.')) channel = 'Organic Search'
  else if (SOCIAL.test(s + '.')) channel = 'Organic Social'
  else if (source !== 'Direct / None') channel = 'Referral'
  return { source, channel }
}

/** The labels of a page and its referrer: all of an event's labels but those of its user agent. */
type PageLabels = Omit<Enriched, 'device' | 'browser' | 'os'>

/**
 * Labels by page URL and referrer: a site's events come from a few thousand pages and referrers,
 * and parsing both URLs and matching the rules cost more than the rest of an event's labels.
 * Memory only (like uaLabels). Bounded: cleared when full, and pairs longer than MAX_PAGE_KEY are
 * not kept, so it holds a few MB for real pages and at most ~40 MB for events crafted to fill it
 * (labels of percent-encoded paths run longer than their URL).
 */
const pageLabels = new Map<string, PageLabels>()
const MAX_PAGE_LABELS = 10_000
const MAX_PAGE_KEY = 600

function labelsOfPage(url: string, referrer: string | null | undefined): PageLabels {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new W3aError('INPUT_MALFORMED', 'sealed event: u is not a URL')
  }
  const q = (k: string) => (u.searchParams.get(k) ?? '').slice(0, 200)
  const utm = { source: q('utm_source'), medium: q('utm_medium') }
  const hostname = u.hostname.replace(/^www\./, '').toLowerCase()
  return {
    hostname,
    page: u.pathname.slice(0, 500) || '/',
    ...referrerSource(referrer, hostname, utm),
    utmSource: utm.source,
    utmMedium: utm.medium,
    utmCampaign: q('utm_campaign'),
    utmContent: q('utm_content'),
    utmTerm: q('utm_term'),
  }
}

/** The labels kept for one event (url and referrer as the tracker sent them; user agent from the request). */
export function enrich(p: { url: string; referrer: string | null | undefined; userAgent: string; width?: number }): Enriched {
  // The URL's length first: a key names one (URL, referrer) pair only, whatever characters the
  // event's sender put in them (a separator could be in the URL: its labels would pass to other
  // visitors' events), and no key is a URL (a string that is none never finds labels). No referrer,
  // null, undefined or '', labels alike (referrerSource).
  const key = `${p.url.length}:${p.url}${p.referrer ?? ''}`
  let page = pageLabels.get(key)
  if (!page) {
    page = labelsOfPage(p.url, p.referrer)
    if (key.length <= MAX_PAGE_KEY) {
      if (pageLabels.size >= MAX_PAGE_LABELS) pageLabels.clear()
      pageLabels.set(key, page)
    }
  }
  const ua = parseUserAgent(p.userAgent, p.width)
  return {
    hostname: page.hostname,
    page: page.page,
    source: page.source,
    channel: page.channel,
    utmSource: page.utmSource,
    utmMedium: page.utmMedium,
    utmCampaign: page.utmCampaign,
    utmContent: page.utmContent,
    utmTerm: page.utmTerm,
    device: ua.device,
    browser: ua.browser,
    os: ua.os,
  }
}
